package contract

import (
	"net/http"
	"strings"
	"testing"
)

func TestBankSpecAcceptsDocumentedWorkflowAndRejectsBadOne(t *testing.T) {
	s := Load(t, BankSpecFile)
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer x"}}
	good := `{"type":"plaid","kind":"link_token_create","language":"en","link_customization_name":"default","customer_guid":"0123456789abcdef0123456789abcdef"}`
	if err := s.CheckRequest("POST", "http://127.0.0.1:1/api/workflows", h, []byte(good)); err != nil {
		t.Fatalf("documented workflow request rejected: %v", err)
	}
	bad := `{"type":"plaid","kind":"link_token_sideways","language":"en"}`
	if err := s.CheckRequest("POST", "http://127.0.0.1:1/api/workflows", h, []byte(bad)); err == nil {
		t.Fatal("a workflow with an unknown kind passed the contract check")
	}
	resp := `{"guid":"0123456789abcdef0123456789abcdef","bank_guid":"0123456789abcdef0123456789abcdef","customer_guid":"0123456789abcdef0123456789abcdef","type":"plaid","state":"storing","failure_code":null,"created_at":"2025-01-01T12:00:00.000Z","updated_at":"2025-01-01T12:00:00.000Z"}`
	rh := http.Header{"Content-Type": {"application/json"}}
	if err := s.CheckResponse("POST", "/api/workflows", h, 201, rh, []byte(resp)); err != nil {
		t.Fatalf("documented workflow response rejected: %v", err)
	}
	if err := s.CheckResponse("POST", "/api/workflows", h, 201, rh, []byte(strings.Replace(resp, `"guid":"0123456789abcdef0123456789abcdef"`, `"guid":"short"`, 1))); err == nil {
		t.Fatal("a workflow with a 5-character guid passed the contract check")
	}
	// The spec types Workflow.state as a plain string; its values live in the
	// WorkflowState enum, which Enum exposes for tests to check against.
	if got := s.Enum("WorkflowState"); strings.Join(got, ",") != "storing,completed,failed" {
		t.Fatalf("WorkflowState enum = %v", got)
	}
	if s.Enum("NoSuchSchema") != nil {
		t.Fatal("Enum of a missing schema is not nil")
	}
	if err := s.CheckRequest("GET", "/api/nowhere", h, nil); err == nil {
		t.Fatal("an undocumented path passed the contract check")
	}
}
