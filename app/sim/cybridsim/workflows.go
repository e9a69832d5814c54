package cybridsim

import (
	"net/http"
	"net/url"

	"linkdesk/app/sim/plaidsim"
)

// workflowJSON is Cybrid's Workflow schema; LinkToken is only rendered by
// GET /api/workflows/{guid} (WorkflowWithDetails).
type workflowJSON struct {
	GUID         string  `json:"guid"`
	BankGUID     string  `json:"bank_guid"`
	CustomerGUID *string `json:"customer_guid"`
	Type         string  `json:"type"`
	State        string  `json:"state"`
	FailureCode  *string `json:"failure_code"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
}

type workflowDetailsJSON struct {
	workflowJSON
	PlaidLinkToken *string `json:"plaid_link_token"`
}

func (s *Server) workflowJSONLocked(wf *workflowRec) workflowJSON {
	return workflowJSON{
		GUID: wf.guid, BankGUID: s.bankGUID, CustomerGUID: strPtr(wf.customerGUID), Type: "plaid",
		State: wf.state, FailureCode: strPtr(wf.failureCode),
		CreatedAt: ts(wf.createdAt), UpdatedAt: ts(wf.updatedAt),
	}
}

// badRequest answers 400 invalid_parameter: a request that is well formed
// but asks for something the resource's state does not allow (the spec's
// PATCH /api/customers example: "Invalid state"), and the simulator's own
// /sim/ endpoints.
func badRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error())
}

func unprocessable(w http.ResponseWriter, code, msg string) {
	writeError(w, http.StatusUnprocessableEntity, code, msg)
}

// createWorkflow serves POST /api/workflows (type plaid only).
//
// Shape errors → 400 with a message naming the field: missing_parameter for
// absent required fields (the spec's example: POST {} answers "Missing
// parameter. Required: type"), invalid_value for malformed ones. Reference
// errors (unknown customer or account, account of another customer, account
// not linkable) → 422 invalid_parameter, as the spec's 422 example. The
// workflow is returned in storing; after the scenario's
// WorkflowDelay it is completed with a Plaid link token, or failed.
// Plaid is called at creation (outside the lock); the outcome is only
// revealed when due.
func (s *Server) createWorkflow(w http.ResponseWriter, r *http.Request, _ pathParams) {
	b, err := readObject(r)
	if err != nil {
		invalidRequest(w, err)
		return
	}
	get := func(field string, required bool, maxLen int) (string, bool) {
		v, ok, err := b.str(field)
		if err == nil && !ok && required {
			err = missingParams{field}
		}
		if err == nil && ok && maxLen > 0 {
			err = checkLen(field, v, 0, maxLen)
		}
		if err != nil {
			invalidRequest(w, err)
			return "", false
		}
		return v, true
	}
	typ, ok := get("type", true, 0)
	if !ok {
		return
	}
	if err := oneOf("type", typ, "plaid"); err != nil {
		invalidRequest(w, err)
		return
	}
	kind, ok := get("kind", true, 0)
	if !ok {
		return
	}
	if err := oneOf("kind", kind, "link_token_create", "link_token_update"); err != nil {
		invalidRequest(w, err)
		return
	}
	lang, ok := get("language", true, 0)
	if !ok {
		return
	}
	if err := oneOf("language", lang, "en", "fr", "es", "nl", "de"); err != nil {
		invalidRequest(w, err)
		return
	}
	custom, ok := get("link_customization_name", true, 128)
	if !ok {
		return
	}
	if custom == "" {
		invalidRequest(w, errorf("Invalid value. link_customization_name must not be empty (use \"default\")"))
		return
	}
	custGUID, ok := get("customer_guid", false, 32)
	if !ok {
		return
	}
	ebaGUID, ok := get("external_bank_account_guid", kind == "link_token_update", 32)
	if !ok {
		return
	}
	redirect, ok := get("redirect_uri", false, 128)
	if !ok {
		return
	}
	if _, ok := get("android_package_name", false, 128); !ok {
		return
	}
	if redirect != "" {
		if u, err := url.Parse(redirect); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			invalidRequest(w, errorf("Invalid value. redirect_uri must be an absolute http(s) URI, got %q", redirect))
			return
		}
	}

	if custGUID == "" {
		custGUID = tokenCustomer(r) // a customer token's own customer
	}
	now := s.now()
	s.mu.Lock()
	s.advanceLocked(now)
	var itemID string
	if custGUID != "" {
		c := s.customerByID[custGUID]
		if c == nil || !visible(r, custGUID) {
			s.mu.Unlock()
			unprocessable(w, "invalid_parameter", "Unable to process request: customer_guid "+custGUID+" not found")
			return
		}
		if c.state != "verified" {
			s.mu.Unlock()
			unprocessable(w, "unverified_customer", "Unable to process request: customer_guid "+custGUID+" is "+c.state+"; only verified customers can link bank accounts")
			return
		}
	}
	if kind == "link_token_update" {
		a := s.accounts[ebaGUID]
		switch {
		case a == nil || !visible(r, a.customerGUID):
			s.mu.Unlock()
			unprocessable(w, "invalid_parameter", "Unable to process request: external_bank_account_guid "+ebaGUID+" not found")
			return
		case custGUID != "" && a.customerGUID != custGUID:
			s.mu.Unlock()
			unprocessable(w, "invalid_parameter", "Unable to process request: external_bank_account_guid "+ebaGUID+" does not belong to customer_guid "+custGUID)
			return
		case a.state != stateRefreshRequired && a.state != stateCompleted && a.state != stateUnverified:
			st := a.state
			s.mu.Unlock()
			unprocessable(w, "invalid_parameter", "Unable to process request: external_bank_account_guid "+ebaGUID+" is "+st+"; only completed, unverified or refresh_required accounts can be updated")
			return
		}
		if custGUID == "" {
			custGUID = a.customerGUID
		}
		itemID = a.itemID
	}
	sc := s.scenario
	s.mu.Unlock()

	wf := &workflowRec{
		guid: randomGUID(), kind: kind, customerGUID: custGUID, ebaGUID: ebaGUID,
		redirectURI: redirect, language: lang, customization: custom,
		createdAt: now, updatedAt: now, state: stateStoring,
	}
	due := now.Add(sc.WorkflowDelay)
	switch {
	case sc.WorkflowFailureCode != "":
		wf.pending = []transition{{at: due, state: stateFailed, failureCode: sc.WorkflowFailureCode}}
	default:
		lt, err := s.plaid.CreateLinkToken(plaidsim.LinkTokenRequest{
			CustomerGUID: custGUID, Language: lang, LinkCustomizationName: custom,
			RedirectURI: redirect, UpdateItemID: itemID,
		})
		if err != nil {
			s.log.Warn("cybridsim: plaid link token creation failed", "workflow_guid", wf.guid, "error", err)
			wf.pending = []transition{{at: due, state: stateFailed, failureCode: FailureWorkflowPlaid}}
		} else {
			wf.linkToken = lt.Token
			wf.pending = []transition{{at: due, state: stateCompleted}}
		}
	}
	s.mu.Lock()
	wf.seq = s.nextSeqLocked()
	s.workflows[wf.guid] = wf
	s.advanceLocked(now) // a zero delay completes at once
	out := s.workflowJSONLocked(wf)
	s.mu.Unlock()
	s.changed()
	s.log.Info("cybridsim: workflow created", "workflow_guid", wf.guid, "kind", kind, "customer_guid", custGUID,
		"external_bank_account_guid", ebaGUID, "due_in", sc.WorkflowDelay)
	writeJSON(w, http.StatusCreated, out)
}

// getWorkflow serves GET /api/workflows/{guid} (WorkflowWithDetails);
// plaid_link_token is null until the workflow is completed.
func (s *Server) getWorkflow(w http.ResponseWriter, r *http.Request, p pathParams) {
	s.mu.Lock()
	s.advanceLocked(s.now())
	wf := s.workflows[p["guid"]]
	if wf != nil && !visible(r, wf.customerGUID) {
		wf = nil // another customer's: as if it did not exist
	}
	var out workflowDetailsJSON
	if wf != nil {
		out.workflowJSON = s.workflowJSONLocked(wf)
		if wf.state == stateCompleted {
			out.PlaidLinkToken = strPtr(wf.linkToken)
		}
	}
	s.mu.Unlock()
	if wf == nil {
		writeError(w, http.StatusNotFound, "not_found", "workflow not found: "+p["guid"])
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// listWorkflows serves GET /api/workflows: page, per_page, guid, bank_guid,
// customer_guid; items are Workflow (no link token). A customer token lists
// only its customer's workflows.
func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request, _ pathParams) {
	lp, err := parseList(r.URL.Query(), "guid", "bank_guid", "customer_guid")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	s.mu.Lock()
	s.advanceLocked(s.now())
	var items []*workflowRec
	for _, wf := range s.workflows {
		if visible(r, wf.customerGUID) && lp.keep("guid", wf.guid) && lp.keep("bank_guid", s.bankGUID) &&
			lp.keep("customer_guid", wf.customerGUID) {
			items = append(items, wf)
		}
	}
	pg, total := pageOf(items, lp)
	objs := make([]workflowJSON, 0, len(pg))
	for _, wf := range pg {
		objs = append(objs, s.workflowJSONLocked(wf))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listEnvelope{Total: total, Page: lp.page, PerPage: lp.perPage, Objects: objs})
}
