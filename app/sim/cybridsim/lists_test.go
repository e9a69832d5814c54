package cybridsim

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

var jsonMarshal = json.Marshal

func objects(t *testing.T, list map[string]any) []map[string]any {
	t.Helper()
	arr, ok := list["objects"].([]any)
	if !ok {
		t.Fatalf("list has no objects array: %v", list)
	}
	out := make([]map[string]any, 0, len(arr))
	for _, o := range arr {
		out = append(out, o.(map[string]any))
	}
	return out
}

func TestSeedCustomersAreDeterministic(t *testing.T) {
	a := New(Options{Plaid: newFakePlaid()}).Customers()
	b := New(Options{Plaid: newFakePlaid()}).Customers()
	if len(a) != SeedCustomerCount || !slices.EqualFunc(a, b, func(x, y Customer) bool {
		return x.GUID == y.GUID && x.Name == y.Name && x.State == y.State
	}) {
		t.Fatalf("seed differs between runs or has %d customers", len(a))
	}
	states := map[string]int{}
	for _, c := range a {
		states[c.State]++
		if !guidRE.MatchString(c.GUID) || c.Name == "" {
			t.Errorf("customer %+v", c)
		}
	}
	if states["verified"] < 20 || states["unverified"] == 0 || states["frozen"] == 0 {
		t.Errorf("seed states = %v", states)
	}
	if a[0].State != "verified" {
		t.Errorf("newest customer is %s; QA expects the first listed customer to be linkable", a[0].State)
	}
}

func TestCustomersPaginationFiltersAndPII(t *testing.T) {
	h := newHarness(t)
	seed := h.srv.Customers()

	_, list, _ := h.do("GET", "/api/customers", nil, h.tok)
	objs := objects(t, list)
	if num(list["total"]) != 25 || num(list["page"]) != 0 || num(list["per_page"]) != 10 || len(objs) != 10 {
		t.Fatalf("default page: total=%v page=%v per_page=%v n=%d", list["total"], list["page"], list["per_page"], len(objs))
	}
	for i, o := range objs {
		h.wantState(o, "CustomerState", seed[i].State)
		if o["guid"] != seed[i].GUID {
			t.Errorf("customer %d guid = %v, want %s (created_at descending)", i, o["guid"], seed[i].GUID)
		}
		if o["name"] != nil || o["address"] != nil || o["email_address"] != nil {
			t.Errorf("PII without include_pii: %v", o)
		}
		if o["type"] != "individual" || o["bank_guid"] != DefaultBankGUID {
			t.Errorf("customer = %v", o)
		}
	}
	var prev time.Time
	for i, o := range objs {
		ts, err := time.Parse(time.RFC3339, str(o["created_at"]))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && ts.After(prev) {
			t.Errorf("customers not sorted by created_at descending at %d", i)
		}
		prev = ts
	}

	_, list, _ = h.do("GET", "/api/customers?page=2&per_page=10", nil, h.tok)
	if n := len(objects(t, list)); n != 5 || num(list["page"]) != 2 {
		t.Errorf("page 2 has %d objects", n)
	}
	_, list, _ = h.do("GET", "/api/customers?page=9", nil, h.tok)
	if n := len(objects(t, list)); n != 0 || num(list["total"]) != 25 {
		t.Errorf("page past the end: %v", list)
	}
	_, list, _ = h.do("GET", "/api/customers?per_page=100", nil, h.tok)
	if n := len(objects(t, list)); n != 25 {
		t.Errorf("per_page=100 gave %d", n)
	}
	for _, q := range []string{"per_page=0", "per_page=101", "page=-1", "per_page=ten"} {
		st, e, _ := h.do("GET", "/api/customers?"+q, nil, h.tok)
		wantError(t, st, e, 400, "invalid_value", strings.Split(q, "=")[0])
	}

	// Filters: comma-separated guid, label, type, bank_guid.
	_, list, _ = h.do("GET", "/api/customers?guid="+seed[3].GUID+","+seed[7].GUID, nil, h.tok)
	if got := objects(t, list); len(got) != 2 || got[0]["guid"] != seed[3].GUID || got[1]["guid"] != seed[7].GUID {
		t.Errorf("guid filter = %v", list)
	}
	_, list, _ = h.do("GET", "/api/customers?label=vip&per_page=100", nil, h.tok)
	wantVIP := 0
	for _, c := range seed {
		if slices.Contains(c.Labels, "vip") {
			wantVIP++
		}
	}
	if num(list["total"]) != float64(wantVIP) || wantVIP == 0 {
		t.Errorf("label filter total = %v, want %d", list["total"], wantVIP)
	}
	_, list, _ = h.do("GET", "/api/customers?type=business", nil, h.tok)
	if num(list["total"]) != 0 {
		t.Errorf("type=business total = %v", list["total"])
	}
	_, list, _ = h.do("GET", "/api/customers?bank_guid=0123456789abcdef0123456789abcdef", nil, h.tok)
	if num(list["total"]) != 0 {
		t.Errorf("other bank total = %v", list["total"])
	}

	// include_pii with customers:pii:read.
	_, c, _ := h.do("GET", "/api/customers/"+seed[0].GUID+"?include_pii=true", nil, h.tok)
	name, _ := c["name"].(map[string]any)
	addr, _ := c["address"].(map[string]any)
	if name["full"] != seed[0].Name || addr["country_code"] != "US" || str(c["email_address"]) == "" {
		t.Errorf("customer with PII = %v", c)
	}
	_, c, _ = h.do("GET", "/api/customers/"+seed[0].GUID, nil, h.tok)
	if c["name"] != nil {
		t.Errorf("GET customer without include_pii has name %v", c["name"])
	}
	st, e, _ := h.do("GET", "/api/customers/0123456789abcdef0123456789abcdef", nil, h.tok)
	wantError(t, st, e, 404, "not_found")
}

func TestAccountAndWorkflowListFilters(t *testing.T) {
	h := newHarness(t)
	c0, c1 := h.verifiedCustomer(0), h.verifiedCustomer(1)
	h.plaid.addItem("p1", "i1", "ins_1", "a:1111")
	h.plaid.addItem("p2", "i2", "ins_1", "b:2222")
	h.plaid.addItem("p3", "i3", "ins_1", "c:3333")
	a1 := str(h.linkAccount(c0, "p1", "a")["guid"])
	h.linkAccount(c0, "bogus", "x") // failed
	a3 := str(h.linkAccount(c1, "p3", "c")["guid"])
	h.createWorkflow(workflowBody("link_token_create", c0))
	h.createWorkflow(workflowBody("link_token_create", c1))
	h.createWorkflow(workflowBody("link_token_create", c1))

	_, list, _ := h.do("GET", "/api/external_bank_accounts?customer_guid="+c0, nil, h.tok)
	if num(list["total"]) != 2 {
		t.Errorf("accounts of c0 = %v", list["total"])
	}
	_, list, _ = h.do("GET", "/api/external_bank_accounts?state=unverified", nil, h.tok)
	got := objects(t, list)
	if len(got) != 2 || got[0]["guid"] != a3 || got[1]["guid"] != a1 {
		t.Errorf("state=unverified, newest first = %v", got)
	}
	_, list, _ = h.do("GET", "/api/external_bank_accounts?state=failed,deleted&asset=USD", nil, h.tok)
	if num(list["total"]) != 1 || objects(t, list)[0]["failure_code"] != "plaid_processor_token" {
		t.Errorf("state=failed,deleted = %v", list)
	}
	_, list, _ = h.do("GET", "/api/external_bank_accounts?per_page=1&page=1", nil, h.tok)
	if len(objects(t, list)) != 1 || num(list["total"]) != 3 {
		t.Errorf("per_page=1&page=1 = %v", list)
	}
	_, list, _ = h.do("GET", "/api/external_bank_accounts?asset=EUR", nil, h.tok)
	if num(list["total"]) != 0 {
		t.Errorf("asset=EUR total = %v", list["total"])
	}

	_, list, _ = h.do("GET", "/api/workflows?customer_guid="+c1, nil, h.tok)
	if num(list["total"]) != 2 {
		t.Errorf("workflows of c1 = %v", list["total"])
	}
	for _, o := range objects(t, list) {
		if _, ok := o["plaid_link_token"]; ok {
			t.Errorf("list item carries plaid_link_token")
		}
		h.wantState(o, "WorkflowState", "storing")
	}
	_, list, _ = h.do("GET", "/api/workflows?bank_guid="+DefaultBankGUID+"&per_page=2", nil, h.tok)
	if num(list["total"]) != 3 || len(objects(t, list)) != 2 {
		t.Errorf("workflows by bank = %v", list)
	}
	st, e, _ := h.do("GET", "/api/workflows?per_page=500", nil, h.tok)
	wantError(t, st, e, 400, "invalid_value", "per_page")
	st, e, _ = h.do("GET", "/api/workflows/0123456789abcdef0123456789abcdef", nil, h.tok)
	wantError(t, st, e, 404, "not_found")
	if accs := h.srv.Accounts(c1); len(accs) != 1 || accs[0].GUID != a3 {
		t.Errorf("Accounts(c1) = %+v", accs)
	}
	if len(h.srv.Accounts("")) != 3 {
		t.Errorf("Accounts(\"\") = %d", len(h.srv.Accounts("")))
	}
}

func TestSimScenarioOverHTTP(t *testing.T) {
	h := newHarness(t)
	_, sc, _ := h.do("GET", "/sim/scenario", nil, "")
	if sc["workflow_delay"] != "1.5s" || sc["account_delay"] != "1s" || sc["workflow_failure_code"] != "" {
		t.Fatalf("GET /sim/scenario = %v", sc)
	}
	st, sc, _ := h.do("PUT", "/sim/scenario", map[string]any{"workflow_delay": "250ms", "account_failure_code": "duplicate"}, "")
	if st != 200 || sc["workflow_delay"] != "250ms" || sc["account_delay"] != "1s" || sc["account_failure_code"] != "duplicate" {
		t.Fatalf("PUT /sim/scenario = %d %v", st, sc)
	}
	if got := h.srv.Scenario(); got.WorkflowDelay != 250*time.Millisecond || got.AccountFailureCode != "duplicate" {
		t.Errorf("Scenario() after PUT = %+v", got)
	}
	st, e, _ := h.do("PUT", "/sim/scenario", map[string]any{"workflow_delay": "soon"}, "")
	wantError(t, st, e, 400, "invalid_parameter", "workflow_delay")
	st, e, _ = h.do("PUT", "/sim/scenario", map[string]any{"workflow_dealy": "1s"}, "")
	wantError(t, st, e, 400, "invalid_parameter", "workflow_dealy")
}
