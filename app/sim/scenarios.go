package sim

// The QA scenario catalogue: named situations a tester can reproduce in the
// simulator, each behaving the way the real services document it. A
// "switch" scenario changes what the simulator does (through the run-time
// switches of cybridsim.Scenario and plaidsim.Scenario); a "guide" scenario
// needs no switch — the behaviour comes from what the tester does in Link
// (credentials, bank, where to leave), and the entry says how.
//
// Only one scenario is active at a time: applying one first puts every
// switch back to normal (the options the simulator was started with).
//
// The entries are written for a tester: what happens, what to do, what
// linkdesk should show. The behaviour they describe follows Plaid's and
// Cybrid's documentation as kept in /work/shared/reference (plaid-link-notes.md,
// cybrid-api-notes.md).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"linkdesk/app/sim/cybridsim"
	"linkdesk/app/sim/plaidsim"
)

// Scenario kinds.
const (
	// KindSwitch: applying the scenario changes the simulator's behaviour.
	KindSwitch = "switch"
	// KindGuide: the behaviour comes from what the tester does in Link;
	// applying the scenario only resets the switches and records the choice.
	KindGuide = "guide"
)

// Scenario describes one QA scenario of the catalogue.
type Scenario struct {
	// ID is the stable identifier ApplyScenario takes, e.g. "institution_down".
	ID string `json:"id"`
	// Title is a short name for a picker.
	Title string `json:"title"`
	// Description says what happens and why that is faithful (with the
	// reference it follows).
	Description string `json:"description"`
	// HowTo says what the tester does once the scenario is applied.
	HowTo string `json:"how_to"`
	// Kind is KindSwitch or KindGuide.
	Kind string `json:"kind"`
	// Expect is what linkdesk should show, for the tester to check.
	Expect string `json:"expect"`
	// Options are the keys ApplyScenario's opts accept for this scenario.
	Options []ScenarioOption `json:"options,omitempty"`
	// Source names where the behaviour comes from, for maintainers: the
	// sections of the reference notes in /work/shared/reference
	// (plaid-link-notes.md "Plaid notes §n", cybrid-api-notes.md "Cybrid
	// notes §n"). The other texts are written for a tester.
	Source string `json:"source,omitempty"`
}

// ScenarioOption is one option a scenario takes.
type ScenarioOption struct {
	Name        string `json:"name"`
	Default     string `json:"default"` // "" when the option is optional without a default
	Description string `json:"description"`
}

// ScenarioNormal is the ID of the scenario with every switch off.
const ScenarioNormal = "normal"

// Default option values.
const (
	DefaultSlowWorkflowDelay   = 8 * time.Second
	DefaultWorkflowFailureCode = cybridsim.FailureWorkflowPlaid // "plaid_failure"
	DefaultAccountFailureCode  = cybridsim.FailureCreateFailed  // "create_failed"
)

// ErrUnknownScenario is returned by ApplyScenario for an ID not in the
// catalogue (wrapped with the IDs that exist).
var ErrUnknownScenario = errors.New("sim: unknown scenario")

// ErrScenarioOption is returned by ApplyScenario for an option the scenario
// does not take or a value it cannot use (wrapped with the details).
var ErrScenarioOption = errors.New("sim: bad scenario option")

// sandboxLogin is the hint every Link walk-through starts from.
const sandboxLogin = "Start linking for a verified customer; in Link continue past consent, choose First Platypus Bank and sign in with user_good / pass_good"

var optTimes = ScenarioOption{Name: "times", Default: "1",
	Description: `how many times the scenario strikes before the simulator is back to normal: a positive number, or "always"`}

// catalogue is the scenario list, in the order a picker shows it.
var catalogue = []Scenario{
	{
		ID: ScenarioNormal, Kind: KindSwitch, Title: "Normal",
		Description: "Every switch off: workflows produce a link token after the simulator's workflow delay, " +
			"accounts are stored and land in unverified (awaiting bank-account ownership verification), " +
			"Link behaves like Plaid's Sandbox.",
		HowTo:  sandboxLogin + ", pick one account.",
		Expect: `Result "Linked — ownership verification pending"; the account is listed as Unverified.`,
	},
	{
		ID: "slow_workflow", Kind: KindSwitch, Title: "Slow workflow",
		Source: "Cybrid notes §3.3",
		Description: "Cybrid takes long to produce the Plaid link token: the workflow stays in storing for the " +
			"chosen delay before it is completed. Cybrid creates the token asynchronously and clients poll " +
			"GET /api/workflows/{guid} until it is completed with a plaid_link_token.",
		HowTo: "Start linking and watch the Link token step. A delay longer than linkdesk's " +
			"LINKDESK_WORKFLOW_TIMEOUT (60 s by default) ends the attempt with a timeout instead.",
		Expect: "The Link token step shows a spinner, the elapsed time and the number of polls; Link opens " +
			"after about the delay.",
		Options: []ScenarioOption{{Name: "delay", Default: DefaultSlowWorkflowDelay.String(),
			Description: `how long the workflow stays in storing, a Go duration such as "8s" or "1m"`}},
	},
	{
		ID: "failed_workflow", Kind: KindSwitch, Title: "Failed workflow",
		Source: "Cybrid notes §3.3, §8",
		Description: "Every new workflow ends in state failed with the chosen failure_code instead of a link " +
			"token (Cybrid's Workflow has state failed and a failure_code; Cybrid enumerates no values — " +
			"so the default is plaid_failure, the simulator's code for a Plaid error).",
		HowTo:  "Start linking.",
		Expect: "Linking failed, naming the failure code and the workflow GUID and saying to try again; Link never opens; no account is created.",
		Options: []ScenarioOption{{Name: "failure_code", Default: DefaultWorkflowFailureCode,
			Description: "the workflow's failure_code (lowercase letters, digits and underscores)"}},
	},
	{
		ID: "several_accounts", Kind: KindSwitch, Title: "Several accounts selected",
		Source: "Plaid notes §4.3 [CUST]; Cybrid notes §3.5",
		Description: "Account Select lets the customer tick several accounts, as a Link customization with " +
			`"Enabled for multiple accounts" does. A customization is a property of ` +
			"the link token, so the switch applies to link tokens created while it is on, whatever " +
			"link_customization_name linkdesk sends. Cybrid links exactly one account per Link session (a " +
			"public token covering several accounts fails with plaid_multiple_accounts), " +
			"so linkdesk must refuse before creating anything. Without this switch the same happens with " +
			`LINKDESK_LINK_CUSTOMIZATION_NAME set to a name containing "multi".`,
		HowTo:  sandboxLogin + ", tick two or more accounts and continue.",
		Expect: "Linking failed with code account_count: Plaid returned 2 accounts, Cybrid links exactly one; no account is created at Cybrid.",
	},
	{
		ID: "mfa", Kind: KindGuide, Title: "MFA (one-time code)",
		Source: "Plaid notes §5.1 [CRED]",
		Description: "Plaid's Sandbox asks for a one-time code when the password is mfa_device; the code is " +
			"1234, anything else is INVALID_MFA shown inline.",
		HowTo: "Start linking; at First Platypus Bank sign in with user_good / mfa_device, enter a wrong " +
			"code to see the inline error, then 1234, and pick one account.",
		Expect: `Result "Linked — ownership verification pending"; the timeline shows SUBMIT_MFA.`,
	},
	{
		ID: "wrong_password", Kind: KindSwitch, Title: "Wrong password",
		Source: "Plaid notes §5.1",
		Description: "Every sign-in is refused with INVALID_CREDENTIALS (ITEM_ERROR), shown inline so the " +
			"customer may retry, as the Sandbox password error_INVALID_CREDENTIALS does; leaving Link then calls onExit with that error. Without the switch, type the " +
			"password error_INVALID_CREDENTIALS.",
		HowTo:  sandboxLogin + " (any password is wrong), then close Link and confirm.",
		Expect: "Link shows the error under the form; after leaving: Linking failed, INVALID_CREDENTIALS, the bank rejected the sign-in details; no account.",
	},
	{
		ID: "institution_down", Kind: KindSwitch, Title: "Institution down",
		Source: "Plaid notes §5.2 [SBXI]",
		Description: "Every institution behaves like Sandbox's \"Unhealthy Platypus Bank - Down\" (ins_132361): " +
			"selecting it emits SELECT_DOWN_INSTITUTION and ERROR with " +
			"INSTITUTION_DOWN (error_type INSTITUTION_ERROR) and shows Plaid's error pane; leaving calls " +
			"onExit with that error. In update mode the sign-in fails the same way. Without the switch, " +
			"choose Unhealthy Platypus Bank - Down.",
		HowTo:  "Start linking, continue past consent and choose any bank; then leave from the error pane.",
		Expect: "Linking failed, INSTITUTION_DOWN: the bank is not available right now, try later or choose another bank; no account.",
	},
	exitGuide("exit_consent", "Exit at consent", "the consent pane (Link's first pane), before choosing a bank",
		"Start linking and close Link on the consent pane.", "requires_credentials",
		"Plaid reports requires_credentials both at the sign-in and before an institution is chosen"),
	exitGuide("exit_institution_search", "Exit at institution search", "the institution search",
		"Start linking, continue past consent, type in the search box, then close Link.", "institution_not_found", ""),
	exitGuide("exit_credentials", "Exit at credentials", "the bank sign-in",
		"Start linking, choose First Platypus Bank, then close Link on the sign-in form and confirm.", "requires_credentials", ""),
	exitGuide("exit_mfa", "Exit at MFA", "the one-time code",
		"Start linking, choose First Platypus Bank, sign in with user_good / mfa_device, then close Link at the code and confirm.", "requires_code", ""),
	exitGuide("exit_account_selection", "Exit at account selection", "the account selection",
		sandboxLogin+", then close Link at Account Select and confirm.", "requires_account_selection", ""),
	exitGuide("exit_oauth", "Exit at OAuth", "the bank's own sign-in (OAuth)",
		"Start linking, choose Platypus OAuth Bank, then close Link on its \"Continue to bank\" pane (or close the bank's window first) and confirm.", "requires_oauth", ""),
	{
		ID: "oauth_approve", Kind: KindGuide, Title: "OAuth bank — approve",
		Source: "Plaid notes §3.3, §5.2 [OAUTH]",
		Description: "Platypus OAuth Bank (ins_127287) signs the customer in on the bank's own page, opened by " +
			"Link in a pop-up window on desktop; approving returns to Link at " +
			"Account Select (OPEN_OAUTH, no SUBMIT_CREDENTIALS).",
		HowTo:  "Start linking, choose Platypus OAuth Bank, Continue to bank, Approve in the bank's window, pick one account.",
		Expect: "The bank's window opens and closes itself; Link continues at Account Select; Result linked, institution ins_127287.",
	},
	{
		ID: "oauth_deny", Kind: KindGuide, Title: "OAuth bank — deny",
		Source: "Plaid notes §2.4 [OAUTH]",
		Description: "Denying access at Platypus OAuth Bank's page makes Link show its error pane with FAIL_OAUTH " +
			"and ERROR(INTERNAL_SERVER_ERROR); leaving emits EXIT with status requires_oauth and calls onExit " +
			"with the error.",
		HowTo:  "Start linking, choose Platypus OAuth Bank, Continue to bank, Deny in the bank's window, then Exit in Link.",
		Expect: "Linking failed: the bank's own sign-in did not complete, the customer declined access — link again and approve; no account.",
	},
	{
		ID: "account_creation_failed", Kind: KindSwitch, Title: "Account creation failed",
		Source: "Cybrid notes §3.5",
		Description: "The next POST /api/external_bank_accounts creates the account in storing, which then " +
			"ends failed with the chosen failure_code (Cybrid's documented codes: invalid_routing_number, " +
			"invalid_account_number, invalid_account_type, duplicate, plaid_processor_token, " +
			"plaid_multiple_accounts, create_failed, unverified_counterparty). After the " +
			"chosen number of accounts the simulator is normal again.",
		HowTo:  sandboxLogin + ", pick one account.",
		Expect: "Linking failed with the failure code and what to do about it; the account is listed as Failed with that code.",
		Options: []ScenarioOption{{Name: "failure_code", Default: DefaultAccountFailureCode,
			Description: "the account's failure_code (one of Cybrid's codes, or any lowercase code to see how an undocumented one is shown)"}, optTimes},
	},
	{
		ID: "connection_expired", Kind: KindSwitch, Title: "Connection expired",
		Source: "Plaid notes §5.3; Cybrid notes §3.6",
		Description: "A linked account's bank connection expires at once: the Plaid item needs update mode " +
			"(as /sandbox/item/reset_login forces ITEM_LOGIN_REQUIRED) and the account " +
			"turns refresh_required. Linking it again goes through a link_token_update " +
			"workflow, Link in update mode and PATCH {state: completed}; resetting the scenario " +
			"does not repair the connection.",
		HowTo: "Apply with customer_guid (that customer's newest completed or unverified account), " +
			"account_guid (that account) or neither (every completed or unverified account); then Refresh " +
			"connection on the account and sign in with user_good / pass_good.",
		Expect: "The account shows Refresh required with a Refresh connection action; after update mode: Connection renewed, the account is no longer refresh_required.",
		Options: []ScenarioOption{
			{Name: "customer_guid", Description: "expire this customer's newest completed or unverified account"},
			{Name: "account_guid", Description: "expire this account"},
		},
	},
	{
		ID: "link_token_expired", Kind: KindSwitch, Title: "Link token expired",
		Source: "Plaid notes §1.4, §4.1 [INV], §2.2",
		Description: "The next link token is issued already expired, so Link refuses it when it starts: onExit " +
			"with INVALID_LINK_TOKEN (error_type INVALID_INPUT) at once, as Plaid documents for an expired " +
			"token; the fix is a new token. After the chosen number of tokens " +
			"the simulator is normal again, so starting again works.",
		HowTo: "Open a customer and start linking; then start again.",
		Expect: "With prefetching on (linkdesk's default) the token prepared when the customer was opened is the expired one: " +
			"Link, created before the click, refuses it, linkdesk prepares another by itself (the timeline says so) and the click opens Link normally. " +
			"With LINKDESK_PREFETCH=false: Linking failed, INVALID_LINK_TOKEN: the link token expired, start again; starting again opens Link normally.",
		Options: []ScenarioOption{optTimes},
	},
}

// exitGuide builds an "exit at <step>" guide. Plaid's onExit status values
// are listed in Plaid notes §2.2.
func exitGuide(id, title, where, howTo, status, note string) Scenario {
	desc := "The customer leaves Link at " + where + ". Link calls onExit with error null and status " + status +
		""
	if note != "" {
		desc += "; " + note
	}
	return Scenario{
		ID: id, Kind: KindGuide, Title: title, Source: "Plaid notes §2.2",
		Description: desc + ". Nothing is linked.",
		HowTo:       howTo,
		Expect:      "Left Plaid Link — nothing linked, saying where the customer left (status " + status + "); no account.",
	}
}

// scenarioState is the Sim's record of the applied scenario.
type scenarioState struct {
	mu      sync.Mutex
	active  string
	opts    map[string]string
	applied time.Time
	// baseCybrid is cybridsim's scenario as the simulator started (the
	// delays from Options): "normal".
	baseCybrid cybridsim.Scenario
}

// initScenarios records the normal state; Start calls it once.
func (s *Sim) initScenarios() {
	s.scen.active = ScenarioNormal
	s.scen.baseCybrid = s.Cybrid.Scenario()
}

// Scenarios returns the catalogue, in display order (a copy).
func (s *Sim) Scenarios() []Scenario {
	out := make([]Scenario, len(catalogue))
	for i, sc := range catalogue {
		sc.Options = append([]ScenarioOption(nil), sc.Options...)
		out[i] = sc
	}
	return out
}

func scenarioByID(id string) (Scenario, bool) {
	for _, sc := range catalogue {
		if sc.ID == id {
			return sc, true
		}
	}
	return Scenario{}, false
}

func scenarioIDs() string {
	ids := make([]string, len(catalogue))
	for i, sc := range catalogue {
		ids[i] = sc.ID
	}
	return strings.Join(ids, ", ")
}

var (
	failureCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	guidRE        = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// ApplyScenario makes id the active scenario. Every switch is first put
// back to normal, then the scenario's own switches are set from opts (nil or
// missing keys take the defaults listed in the catalogue). Switches shape
// what happens from now on: workflows, accounts and link tokens already
// created keep what they were created with. connection_expired acts at once.
//
// On error (ErrUnknownScenario, ErrScenarioOption, or connection_expired
// finding no linked account) nothing changes.
func (s *Sim) ApplyScenario(id string, opts map[string]string) error {
	def, ok := scenarioByID(id)
	if !ok {
		return fmt.Errorf("%w %q; the scenarios are: %s", ErrUnknownScenario, id, scenarioIDs())
	}
	allowed := map[string]bool{}
	for _, o := range def.Options {
		allowed[o.Name] = true
	}
	clean := map[string]string{}
	for k, v := range opts {
		if !allowed[k] {
			return fmt.Errorf("%w: scenario %s takes no option %q%s", ErrScenarioOption, id, k, optionList(def))
		}
		if v = strings.TrimSpace(v); v != "" {
			clean[k] = v
		}
	}
	get := func(name string) string {
		if v, ok := clean[name]; ok {
			return v
		}
		for _, o := range def.Options {
			if o.Name == name {
				return o.Default
			}
		}
		return ""
	}
	times := func() (int, error) {
		v := get("times")
		if v == "always" {
			return -1, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf(`%w: times must be a positive number or "always", got %q`, ErrScenarioOption, v)
		}
		return n, nil
	}
	failureCode := func() (string, error) {
		v := get("failure_code")
		if !failureCodeRE.MatchString(v) {
			return "", fmt.Errorf("%w: failure_code must be lowercase letters, digits and underscores (e.g. %s), got %q", ErrScenarioOption, def.Options[0].Default, v)
		}
		return v, nil
	}

	s.scen.mu.Lock()
	defer s.scen.mu.Unlock()
	cyb := s.scen.baseCybrid
	var pl plaidsim.Scenario
	switch id {
	case ScenarioNormal:
	case "slow_workflow":
		d, err := time.ParseDuration(get("delay"))
		if err != nil || d <= 0 {
			return fmt.Errorf(`%w: delay must be a positive duration such as "8s", got %q`, ErrScenarioOption, get("delay"))
		}
		cyb.WorkflowDelay = d
	case "failed_workflow":
		code, err := failureCode()
		if err != nil {
			return err
		}
		cyb.WorkflowFailureCode = code
	case "several_accounts":
		pl.MultiSelect = true
	case "wrong_password":
		pl.RejectCredentials = true
	case "institution_down":
		pl.InstitutionDown = true
	case "account_creation_failed":
		code, err := failureCode()
		if err != nil {
			return err
		}
		n, err := times()
		if err != nil {
			return err
		}
		cyb.AccountFailureCode = code
		if n > 0 {
			cyb.AccountFailureLimit = n
		}
	case "link_token_expired":
		n, err := times()
		if err != nil {
			return err
		}
		pl.ExpiredLinkTokens = n
	case "connection_expired":
		cust, acct := get("customer_guid"), get("account_guid")
		var err error
		switch {
		case cust != "" && acct != "":
			return fmt.Errorf("%w: give customer_guid or account_guid, not both", ErrScenarioOption)
		case cust != "":
			if !guidRE.MatchString(cust) {
				return fmt.Errorf("%w: customer_guid must be 32 lowercase hexadecimal characters, got %q", ErrScenarioOption, cust)
			}
			_, err = s.Cybrid.ExpireNewestConnection(cust)
		case acct != "":
			if !guidRE.MatchString(acct) {
				return fmt.Errorf("%w: account_guid must be 32 lowercase hexadecimal characters, got %q", ErrScenarioOption, acct)
			}
			err = s.Cybrid.ExpireConnection(acct)
		default:
			_, err = s.Cybrid.ExpireAllConnections()
		}
		if err != nil {
			return fmt.Errorf("sim: scenario connection_expired: %w", err)
		}
	}
	s.Cybrid.SetScenario(cyb)
	s.Plaid.SetScenario(pl)
	s.scen.active, s.scen.opts, s.scen.applied = id, clean, time.Now()
	return nil
}

func optionList(def Scenario) string {
	if len(def.Options) == 0 {
		return " (it takes no options)"
	}
	names := make([]string, len(def.Options))
	for i, o := range def.Options {
		names[i] = o.Name
	}
	return "; it takes: " + strings.Join(names, ", ")
}

// ActiveScenario returns the ID of the active scenario ("normal" when none
// was applied). A scenario limited to a number of times (account creation
// failed, link token expired) reads "normal" again once it has struck that
// many times, because the simulator then behaves normally.
func (s *Sim) ActiveScenario() string {
	id, _ := s.activeScenario()
	return id
}

func (s *Sim) activeScenario() (string, map[string]string) {
	s.scen.mu.Lock()
	defer s.scen.mu.Unlock()
	usedUp := false
	switch s.scen.active {
	case "account_creation_failed":
		usedUp = s.Cybrid.Scenario().AccountFailureCode == ""
	case "link_token_expired":
		usedUp = s.Plaid.Scenario().ExpiredLinkTokens == 0
	}
	if usedUp {
		s.scen.active, s.scen.opts = ScenarioNormal, nil
	}
	opts := make(map[string]string, len(s.scen.opts))
	for k, v := range s.scen.opts {
		opts[k] = v
	}
	return s.scen.active, opts
}

// ResetScenario puts every switch back to normal (ApplyScenario("normal")).
func (s *Sim) ResetScenario() {
	_ = s.ApplyScenario(ScenarioNormal, nil)
}

// ---- HTTP: /sim/scenarios (simulator-only, no authentication) ----

// ScenariosResponse is the body of GET /sim/scenarios.
type ScenariosResponse struct {
	Active    string            `json:"active"`
	Options   map[string]string `json:"options"`
	Scenarios []Scenario        `json:"scenarios"`
}

// ActiveScenarioJSON is the body of GET/PUT/DELETE /sim/scenarios/active
// (and of PUT's request: {"id": "...", "options": {...}}).
type ActiveScenarioJSON struct {
	ID      string            `json:"id"`
	Options map[string]string `json:"options"`
}

// scenarioHandler serves /sim/scenarios and /sim/scenarios/active and
// passes everything else to next:
//
//	GET    /sim/scenarios          the catalogue and the active scenario
//	GET    /sim/scenarios/active   {"id", "options"}
//	PUT    /sim/scenarios/active   body {"id", "options"}: ApplyScenario; 200 with the result,
//	                               400 (message_code invalid_parameter) for an unknown id or bad options,
//	                               409 (invalid_state) when connection_expired finds no account
//	DELETE /sim/scenarios/active   ResetScenario; 200 {"id": "normal"}
//
// Errors use Cybrid's ErrorResponse shape, like the other /sim/ endpoints.
func (s *Sim) scenarioHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sim/scenarios":
			if r.Method != http.MethodGet {
				methodNotAllowed(w, r, "GET")
				return
			}
			id, opts := s.activeScenario()
			writeSimJSON(w, http.StatusOK, ScenariosResponse{Active: id, Options: opts, Scenarios: s.Scenarios()})
		case "/sim/scenarios/active":
			switch r.Method {
			case http.MethodGet:
			case http.MethodDelete:
				s.ResetScenario()
			case http.MethodPut:
				var in ActiveScenarioJSON
				dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&in); err != nil {
					writeSimError(w, http.StatusBadRequest, "invalid_parameter",
						fmt.Sprintf(`the body must be a JSON object {"id": "<scenario>", "options": {"<name>": "<value>"}}: %v`, err))
					return
				}
				if err := s.ApplyScenario(in.ID, in.Options); err != nil {
					status, code := http.StatusBadRequest, "invalid_parameter"
					if !errors.Is(err, ErrUnknownScenario) && !errors.Is(err, ErrScenarioOption) {
						status, code = http.StatusConflict, "invalid_state"
					}
					writeSimError(w, status, code, err.Error())
					return
				}
			default:
				methodNotAllowed(w, r, "DELETE, GET, PUT")
				return
			}
			id, opts := s.activeScenario()
			writeSimJSON(w, http.StatusOK, ActiveScenarioJSON{ID: id, Options: opts})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// scenarioMethods returns the methods scenarioHandler serves on path (nil
// for paths it passes on).
func scenarioMethods(path string) []string {
	switch path {
	case "/sim/scenarios":
		return []string{"GET"}
	case "/sim/scenarios/active":
		return []string{"DELETE", "GET", "PUT"}
	}
	return nil
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeSimError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		"method "+r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+allow)
}

func writeSimJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"status": status, "error_message": err.Error(), "message_code": "internal_error"})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeSimError(w http.ResponseWriter, status int, code, msg string) {
	writeSimJSON(w, status, map[string]any{"status": status, "error_message": msg, "message_code": code})
}
