package cybrid

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// WorkflowState is a workflow's state. Values the spec adds later are kept
// as they come.
type WorkflowState string

// Workflow states (spec WorkflowState).
const (
	WorkflowStoring   WorkflowState = "storing"   // the platform is storing the workflow
	WorkflowCompleted WorkflowState = "completed" // created; plaid_link_token is ready
	WorkflowFailed    WorkflowState = "failed"    // see FailureCode
)

// WorkflowKind is the kind of a Plaid workflow.
type WorkflowKind string

// Workflow kinds (spec PostWorkflow.kind).
const (
	LinkTokenCreate WorkflowKind = "link_token_create" // link a new account
	LinkTokenUpdate WorkflowKind = "link_token_update" // Plaid update mode for an existing account
)

// WorkflowTypePlaid is the only workflow type.
const WorkflowTypePlaid = "plaid"

// PostWorkflow is the body of POST /api/workflows.
type PostWorkflow struct {
	// Type is "plaid"; empty is sent as "plaid".
	Type string       `json:"type"`
	Kind WorkflowKind `json:"kind,omitempty"`
	// CustomerGUID is the customer linking an account. The spec makes it
	// optional for link_token_create (a bank-level account); it must own
	// ExternalBankAccountGUID for link_token_update.
	CustomerGUID string `json:"customer_guid,omitempty"`
	// ExternalBankAccountGUID is required for link_token_update.
	ExternalBankAccountGUID string `json:"external_bank_account_guid,omitempty"`
	// Language is one of en, fr, es, nl, de; required for plaid.
	Language string `json:"language,omitempty"`
	// LinkCustomizationName is "default" (English) or e.g.
	// "spanish_customization"; required for plaid.
	LinkCustomizationName string `json:"link_customization_name,omitempty"`
	// RedirectURI is where Plaid returns after a bank's OAuth pages; it must
	// be registered with Cybrid. At most 128 characters.
	RedirectURI        string `json:"redirect_uri,omitempty"`
	AndroidPackageName string `json:"android_package_name,omitempty"`
}

// Workflow is a workflow (spec Workflow and WorkflowWithDetails).
// Nullable strings are "" when null; times are zero when absent.
type Workflow struct {
	GUID         string        `json:"guid"`
	BankGUID     string        `json:"bank_guid,omitempty"`
	CustomerGUID string        `json:"customer_guid,omitempty"`
	Type         string        `json:"type,omitempty"`
	State        WorkflowState `json:"state,omitempty"`
	FailureCode  string        `json:"failure_code,omitempty"`
	// PlaidLinkToken is set by GetWorkflow once the state is completed; it
	// is never in CreateWorkflow's or ListWorkflows' answers.
	PlaidLinkToken string    `json:"plaid_link_token,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

// WorkflowList is a page of workflows (spec WorkflowsList).
type WorkflowList struct {
	Total   int        `json:"total"`
	Page    int        `json:"page"`
	PerPage int        `json:"per_page"`
	Objects []Workflow `json:"objects"`
}

// ListWorkflowsParams filter GET /api/workflows. Page is 0-based; PerPage is
// 1..100, 0 for the server's default. Empty filters are not sent.
type ListWorkflowsParams struct {
	Page, PerPage int
	GUIDs         []string
	CustomerGUID  string
	BankGUID      string
}

// CreateWorkflow starts a workflow: POST /api/workflows, 201. For Plaid, poll
// GetWorkflow until the state is completed and PlaidLinkToken is set.
// Scope: workflows:execute.
func (c *Client) CreateWorkflow(ctx context.Context, in PostWorkflow) (Workflow, error) {
	const op = "CreateWorkflow"
	if in.Type == "" {
		in.Type = WorkflowTypePlaid
	}
	if err := checkOptionalGUID(op, "customer_guid", in.CustomerGUID); err != nil {
		return Workflow{}, err
	}
	if err := checkOptionalGUID(op, "external_bank_account_guid", in.ExternalBankAccountGUID); err != nil {
		return Workflow{}, err
	}
	if in.Kind == LinkTokenUpdate && in.ExternalBankAccountGUID == "" {
		return Workflow{}, fmt.Errorf("cybrid: %s: a link_token_update workflow needs the external_bank_account_guid of the account to refresh: %w", op, ErrInvalidArgument)
	}
	if len(in.RedirectURI) > 128 {
		return Workflow{}, fmt.Errorf("cybrid: %s: redirect_uri is %d characters; Cybrid accepts at most 128: %w", op, len(in.RedirectURI), ErrInvalidArgument)
	}
	var out Workflow
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/workflows", body: in, scope: "workflows:execute"}, &out)
	return out, err
}

// GetWorkflow reads a workflow with its details (plaid_link_token):
// GET /api/workflows/{guid}. Scope: workflows:read.
func (c *Client) GetWorkflow(ctx context.Context, guid string) (Workflow, error) {
	if err := checkGUID("GetWorkflow", "workflow guid", guid); err != nil {
		return Workflow{}, err
	}
	var out Workflow
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/workflows/" + guid, scope: "workflows:read"}, &out)
	return out, err
}

// ListWorkflows lists workflows, newest first: GET /api/workflows.
// Scope: workflows:read.
func (c *Client) ListWorkflows(ctx context.Context, p ListWorkflowsParams) (WorkflowList, error) {
	const op = "ListWorkflows"
	q, err := pageQuery(op, p.Page, p.PerPage)
	if err != nil {
		return WorkflowList{}, err
	}
	if len(p.GUIDs) > 0 {
		s, err := guidList(op, "guid", p.GUIDs)
		if err != nil {
			return WorkflowList{}, err
		}
		q.Set("guid", s)
	}
	if p.CustomerGUID != "" {
		if err := checkGUID(op, "customer_guid", p.CustomerGUID); err != nil {
			return WorkflowList{}, err
		}
		q.Set("customer_guid", p.CustomerGUID)
	}
	if p.BankGUID != "" {
		if err := checkGUID(op, "bank_guid", p.BankGUID); err != nil {
			return WorkflowList{}, err
		}
		q.Set("bank_guid", p.BankGUID)
	}
	var out WorkflowList
	err = c.do(ctx, request{method: http.MethodGet, path: "/api/workflows", query: q, scope: "workflows:read"}, &out)
	return out, err
}
