package pageapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
	"linkdesk/app/environment"
	"linkdesk/app/guid"
	"linkdesk/app/journal"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/timeline"
	"linkdesk/app/userdirs"
)

// The parameters of the page's calls. Every field is required unless its
// comment says otherwise; fields must not be omitempty (the strict decoder
// reads the JSON names).
type (
	// NoParams is {}.
	NoParams struct{}
	// EnvironmentParams names an environment: sim, sandbox or production.
	EnvironmentParams struct {
		Environment string `json:"environment"`
	}
	// CredentialsParams are typed on the first-run screen. The secret goes
	// to the keychain only: never logged, never sent back.
	CredentialsParams struct {
		Environment  string `json:"environment"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	// PageParams asks for one page of customers (0-based; per_page 1–100,
	// 0 means 25).
	PageParams struct {
		Page    int `json:"page"`
		PerPage int `json:"per_page"`
	}
	// QueryParams is a search: a name or a customer GUID, and/or a
	// customer state ("" any).
	QueryParams struct {
		Query string `json:"query"`
		State string `json:"state"`
	}
	// NamesParams asks for the names of customers (at most 100 GUIDs).
	NamesParams struct {
		CustomerGUIDs []string `json:"customer_guids"`
	}
	// CustomerParams names a customer.
	CustomerParams struct {
		CustomerGUID string `json:"customer_guid"`
	}
	// ListAccountsParams names a customer; include_deleted (optional,
	// default false) lists its deleted (unlinked) accounts too. Deleting
	// and deleted rows say who unlinked them and when, where the audit log
	// knows.
	ListAccountsParams struct {
		CustomerGUID   string `json:"customer_guid"`
		IncludeDeleted bool   `json:"include_deleted"`
	}
	// AuditFilter selects audit records; every field is optional ("" for
	// all): environment (sim, sandbox, production), customer_guid,
	// account_guid, action (link, refresh, verify, unlink,
	// credentials_store, credentials_delete, switch_environment).
	AuditFilter struct {
		Environment  string `json:"environment"`
		CustomerGUID string `json:"customer_guid"`
		AccountGUID  string `json:"account_guid"`
		Action       string `json:"action"`
	}
	// AuditListParams asks for one page (0-based) of audit records, newest
	// first; per_page 1–500, 0 means 50.
	AuditListParams struct {
		AuditFilter
		Page    int `json:"page"`
		PerPage int `json:"per_page"`
	}
	// AuditExportParams exports the audit records the filter selects;
	// format is "csv", "jsonl" or "both" ("" means both).
	AuditExportParams struct {
		AuditFilter
		Format string `json:"format"`
	}
	// AccountParams names a customer's account: the action acts on this
	// customer and this account only.
	AccountParams struct {
		CustomerGUID string `json:"customer_guid"`
		AccountGUID  string `json:"account_guid"`
	}
	// AttemptParams names an attempt.
	AttemptParams struct {
		AttemptID string `json:"attempt_id"`
	}
	// TimelineParams asks for the entries of one attempt (attempt_id, or ""
	// for the session) newer than since (0: all).
	TimelineParams struct {
		AttemptID string `json:"attempt_id"`
		Since     int64  `json:"since"`
	}
	// ExportAttemptParams exports one attempt; format is "jsonl", "html" or
	// "both" ("" means both).
	ExportAttemptParams struct {
		AttemptID string `json:"attempt_id"`
		Format    string `json:"format"`
	}
	// ExportSessionParams exports the session.
	ExportSessionParams struct {
		Format string `json:"format"`
	}
	// ScenarioParams applies a simulator QA scenario; customer_guid (the
	// customer on screen) lets "connection expired" pick that customer's
	// account; options are the scenario's own.
	ScenarioParams struct {
		ID           string            `json:"id"`
		CustomerGUID string            `json:"customer_guid"`
		Options      map[string]string `json:"options"`
	}
	// PlaidParams are common to every Plaid Link callback the page
	// forwards: the attempt, the callback's number in the order Link
	// delivered the attempt's callbacks (from 1), and when Link delivered it
	// (milliseconds since 1970 by the page's clock; 0 unknown).
	PlaidParams struct {
		AttemptID string `json:"attempt_id"`
		Seq       int    `json:"seq"`
		At        int64  `json:"at"`
	}
	// OnEventParams is onEvent(eventName, metadata).
	OnEventParams struct {
		PlaidParams
		EventName string          `json:"event_name"`
		Metadata  json.RawMessage `json:"metadata"`
	}
	// OnExitParams is onExit(error, metadata).
	OnExitParams struct {
		PlaidParams
		Error    json.RawMessage `json:"error"`
		Metadata json.RawMessage `json:"metadata"`
	}
	// OnSuccessParams is onSuccess(publicToken, metadata).
	OnSuccessParams struct {
		PlaidParams
		PublicToken string          `json:"public_token"`
		Metadata    json.RawMessage `json:"metadata"`
	}
	// RefusedParams: Plaid Link, created ahead of the click with the token
	// prepared under attempt_id, called onExit with error (Plaid's error
	// object) while it initialised, before any click.
	RefusedParams struct {
		AttemptID string          `json:"attempt_id"`
		Error     json.RawMessage `json:"error"`
	}
	// LinkShownParams: Plaid Link was on screen and usable click_ms
	// milliseconds after the click that started attempt_id, by the page's
	// clock; signal names the landmark ("first_pane": the simulated Link's
	// first pane rendered and accepting input; "open_event": Plaid's OPEN
	// event), prepared whether Link was created before the click. phases
	// (optional) are the milliseconds from the click to the steps on the
	// way: attempt (the page had the click's attempt with its link token;
	// not "token", which the timeline redacts as a secret's name), created
	// (Plaid.create), loaded (onLoad), opened (open()), open_event (OPEN).
	LinkShownParams struct {
		AttemptID string             `json:"attempt_id"`
		ClickMS   float64            `json:"click_ms"`
		Signal    string             `json:"signal"`
		Prepared  bool               `json:"prepared"`
		Phases    map[string]float64 `json:"phases"`
	}
)

// Results that have no type of their own elsewhere.
type (
	// None is the result of a call that answers nothing (JSON null).
	None = *struct{}
	// Scenarios is the simulator's scenario catalogue and the active one.
	Scenarios struct {
		Scenarios []sim.Scenario `json:"scenarios"`
		Active    string         `json:"active"`
	}
	// ActiveScenario is the scenario active after applyScenario.
	ActiveScenario struct {
		Active string `json:"active"`
	}
	// Folder is the export folder that was opened.
	Folder struct {
		Dir string `json:"dir"`
	}
)

// callTable is the contract: every call the page can make.
var callTable = map[string]call{}

func init() {
	for _, c := range []call{
		// The session.
		define("info", func(ctx context.Context, a *API, _ NoParams) (SessionInfo, error) { return a.b.Info(), nil }),
		define("ready", func(ctx context.Context, a *API, _ NoParams) (None, error) { a.b.PageReady(); return nil, nil }),
		define("switchEnvironment", func(ctx context.Context, a *API, p EnvironmentParams) (SessionInfo, error) {
			env := config.Environment(p.Environment)
			if !env.Valid() {
				return SessionInfo{}, fmt.Errorf("environment %s is not one of sim, sandbox, production", quote(p.Environment))
			}
			return a.b.SwitchEnvironment(env)
		}),
		// Start the environment the session waits for again (after the
		// keychain was unlocked, say): the session then, running or still
		// waiting with its problem.
		define("retryEnvironment", func(ctx context.Context, a *API, _ NoParams) (SessionInfo, error) { return a.b.RetryEnvironment() }),
		define("storeCredentials", func(ctx context.Context, a *API, p CredentialsParams) (SessionInfo, error) {
			env := config.Environment(p.Environment)
			if env != config.Sandbox && env != config.Production {
				return SessionInfo{}, fmt.Errorf("credentials are stored for sandbox or production, not %s", quote(p.Environment))
			}
			creds := keychain.Credentials{ClientID: p.ClientID, ClientSecret: p.ClientSecret}
			if err := creds.Validate(); err != nil {
				return SessionInfo{}, err
			}
			return a.b.StoreCredentials(env, creds)
		}),

		// Customers and accounts.
		define("listCustomers", func(ctx context.Context, a *API, p PageParams) (desk.CustomerPage, error) {
			e, err := a.b.Env()
			if err != nil {
				return desk.CustomerPage{}, err
			}
			if p.PerPage == 0 {
				p.PerPage = 25
			}
			return e.Desk.ListCustomers(ctx, p.Page, p.PerPage)
		}),
		define("searchCustomers", func(ctx context.Context, a *API, p QueryParams) (desk.SearchResult, error) {
			e, err := a.b.Env()
			if err != nil {
				return desk.SearchResult{}, err
			}
			return e.Desk.SearchCustomers(ctx, p.Query, p.State)
		}),
		// customerNames names customers the page shows by GUID only (the
		// interrupted attempts, the audit log): GUID → name, one request.
		define("customerNames", func(ctx context.Context, a *API, p NamesParams) (map[string]string, error) {
			e, err := a.b.Env()
			if err != nil {
				return nil, err
			}
			return e.Desk.CustomerNames(ctx, p.CustomerGUIDs)
		}),
		define("listAccounts", func(ctx context.Context, a *API, p ListAccountsParams) ([]desk.Account, error) {
			e, err := a.b.Env()
			if err != nil {
				return nil, err
			}
			list := e.Desk.ListAccounts
			if p.IncludeDeleted {
				list = e.Desk.ListAccountsIncludingDeleted
			}
			rows, err := list(ctx, p.CustomerGUID)
			if err != nil {
				return nil, err
			}
			a.markUnlinked(e, p.CustomerGUID, rows)
			return rows, nil
		}),
		// Unlinking is recorded in the audit log, succeeded or failed.
		define("unlinkAccount", func(ctx context.Context, a *API, p AccountParams) (desk.Account, error) {
			e, err := a.b.Env()
			if err != nil {
				return desk.Account{}, err
			}
			if err := guid.Check("customer GUID", p.CustomerGUID); err != nil {
				return desk.Account{}, err
			}
			if err := guid.Check("account GUID", p.AccountGUID); err != nil {
				return desk.Account{}, err
			}
			row, acct, err := e.Desk.UnlinkAccount(ctx, p.CustomerGUID, p.AccountGUID)
			rec, recErr := a.auditUnlink(e, p, row, acct, err)
			if err != nil {
				return desk.Account{}, err
			}
			if recErr == nil && e.Audit.Log().Status().On {
				row.UnlinkedBy, row.UnlinkedAt = rec.User, rec.Time.UTC().Format(time.RFC3339)
			}
			// No attempt panel may go on showing the account as it was.
			e.Flow.AccountChanged(acct, fmt.Sprintf("The account %s was unlinked by the operator (now %s)", acct.GUID, acct.State))
			return row, nil
		}),

		// Attempts: each acts on its own customer and account only. A new
		// attempt starts only while the crash journal can record it
		// (journal.CanRecord): one a crash could leave unaccounted for is
		// refused, with what to do. Link and Refresh are refused, before
		// anything is created, for a customer Cybrid would not link (not
		// verified).
		define("startLink", func(ctx context.Context, a *API, p CustomerParams) (linkflow.Attempt, error) {
			e, err := a.recording()
			if err != nil {
				return linkflow.Attempt{}, err
			}
			return e.Flow.StartLinkChecked(ctx, p.CustomerGUID)
		}),
		define("startRefresh", func(ctx context.Context, a *API, p AccountParams) (linkflow.Attempt, error) {
			e, err := a.recording()
			if err != nil {
				return linkflow.Attempt{}, err
			}
			if err := guid.Check("account GUID", p.AccountGUID); err != nil {
				return linkflow.Attempt{}, err
			}
			if err := e.Flow.CheckCustomer(ctx, p.CustomerGUID); err != nil {
				return linkflow.Attempt{}, err
			}
			return e.Flow.StartRefresh(p.CustomerGUID, p.AccountGUID)
		}),
		define("verifyAccount", func(ctx context.Context, a *API, p AccountParams) (linkflow.Attempt, error) {
			e, err := a.recording()
			if err != nil {
				return linkflow.Attempt{}, err
			}
			return e.Flow.StartVerify(p.CustomerGUID, p.AccountGUID, e.VerifyBehaviours)
		}),
		define("cancel", func(ctx context.Context, a *API, p AttemptParams) (None, error) {
			e, err := a.attempt(p.AttemptID)
			if err != nil {
				return nil, err
			}
			return nil, e.Flow.Cancel(p.AttemptID)
		}),
		// Retry account creation for an attempt in account_retry, with the
		// Plaid public token kept in memory (no new Link session).
		define("retryAccount", func(ctx context.Context, a *API, p AttemptParams) (linkflow.Attempt, error) {
			e, err := a.attempt(p.AttemptID)
			if err != nil {
				return linkflow.Attempt{}, err
			}
			if err := e.Flow.RetryAccount(p.AttemptID); err != nil {
				return linkflow.Attempt{}, err
			}
			at, _ := e.Flow.Get(p.AttemptID)
			return at, nil
		}),
		// The customer's latest attempt (null when none): what the page
		// shows when the operator opens the customer.
		define("currentAttempt", func(ctx context.Context, a *API, p CustomerParams) (*linkflow.Attempt, error) {
			e, err := a.b.Env()
			if err != nil {
				return nil, err
			}
			if err := guid.Check("customer GUID", p.CustomerGUID); err != nil {
				return nil, err
			}
			at, ok := e.Flow.Latest(p.CustomerGUID)
			if !ok {
				return nil, nil
			}
			return &at, nil
		}),
		// The operator opened a customer: prepare the customer's next link
		// token ahead of the click (nothing when prefetching is off or the
		// customer cannot link: null). No attempt is created; the token, once
		// ready, comes with the answer or a prepared push.
		define("prefetchLink", func(ctx context.Context, a *API, p CustomerParams) (*linkflow.Prepared, error) {
			e, err := a.b.Env()
			if err != nil {
				return nil, err
			}
			pr, ok, err := e.Flow.Prefetch(p.CustomerGUID)
			if err != nil || !ok {
				return nil, err
			}
			return &pr, nil
		}),
		// Plaid Link refused the prepared token before the click: it is
		// replaced (the answer: the new preparation, or null).
		definePlaid("prefetchRefused", func(ctx context.Context, a *API, p RefusedParams) (*linkflow.Prepared, error) {
			e, err := a.attempt(p.AttemptID)
			if err != nil {
				return nil, err
			}
			var le *linkflow.LinkError
			if len(p.Error) > 0 && string(p.Error) != "null" {
				if err := json.Unmarshal(p.Error, &le); err != nil {
					return nil, fmt.Errorf("error does not have Plaid's shape: %s", cut(err.Error(), 120))
				}
			}
			pr, ok, err := e.Flow.PrefetchRefused(p.AttemptID, le)
			if err != nil || !ok {
				return nil, err
			}
			return &pr, nil
		}),
		// How long Plaid Link took to be usable after the click, as the page
		// measured it: recorded on the attempt.
		define("linkShown", func(ctx context.Context, a *API, p LinkShownParams) (None, error) {
			e, err := a.attempt(p.AttemptID)
			if err != nil {
				return nil, err
			}
			if p.ClickMS < 0 || p.ClickMS > 3_600_000 {
				return nil, fmt.Errorf("click_ms %.0f is not a time from a click to Link: send milliseconds, 0 to 3600000", p.ClickMS)
			}
			switch p.Signal {
			case "first_pane", "open_event":
			default:
				return nil, fmt.Errorf("signal %s is not first_pane or open_event", quote(p.Signal))
			}
			phases := map[string]time.Duration{}
			for k, v := range p.Phases {
				switch k {
				case "attempt", "created", "loaded", "opened", "open_event":
				default:
					return nil, fmt.Errorf("phase %s is not attempt, created, loaded, opened or open_event", quote(k))
				}
				if v < 0 || v > 3_600_000 {
					return nil, fmt.Errorf("phase %s: %.0f is not milliseconds from the click (0 to 3600000)", k, v)
				}
				phases[k] = time.Duration(v * float64(time.Millisecond))
			}
			return nil, e.Flow.LinkShown(p.AttemptID, time.Duration(p.ClickMS*float64(time.Millisecond)), p.Signal, p.Prepared, phases)
		}),
		define("runningAttempts", func(ctx context.Context, a *API, _ NoParams) ([]linkflow.Attempt, error) {
			e, err := a.b.Env()
			if err != nil {
				return []linkflow.Attempt{}, nil
			}
			return e.Flow.Running(), nil
		}),

		// Plaid Link's callbacks, forwarded by the page as Link delivers
		// them, numbered; the flow applies them in that order.
		definePlaid("plaid.onLoad", func(ctx context.Context, a *API, p PlaidParams) (None, error) {
			return nil, a.deliver(ctx, p, linkflow.Callback{Kind: linkflow.OnLoad})
		}),
		definePlaid("plaid.onEvent", func(ctx context.Context, a *API, p OnEventParams) (None, error) {
			return nil, a.deliver(ctx, p.PlaidParams, linkflow.Callback{Kind: linkflow.OnEvent, EventName: p.EventName, Metadata: p.Metadata})
		}),
		definePlaid("plaid.onExit", func(ctx context.Context, a *API, p OnExitParams) (None, error) {
			return nil, a.deliver(ctx, p.PlaidParams, linkflow.Callback{Kind: linkflow.OnExit, Error: p.Error, Metadata: p.Metadata})
		}),
		definePlaid("plaid.onSuccess", func(ctx context.Context, a *API, p OnSuccessParams) (None, error) {
			return nil, a.deliver(ctx, p.PlaidParams, linkflow.Callback{Kind: linkflow.OnSuccess, PublicToken: p.PublicToken, Metadata: p.Metadata})
		}),

		// The timeline and its exports.
		define("timeline", func(ctx context.Context, a *API, p TimelineParams) (timeline.TimelineResult, error) {
			if p.AttemptID != "" {
				if err := linkflow.CheckAttemptID(p.AttemptID); err != nil {
					return timeline.TimelineResult{}, err
				}
			}
			if p.Since < 0 {
				return timeline.TimelineResult{}, fmt.Errorf("since %d is not valid: pass 0 (everything) or the last_seq of a previous answer", p.Since)
			}
			e, err := a.b.Env()
			if err != nil {
				return timeline.TimelineResult{}, err
			}
			return e.Timeline.Timeline(p.AttemptID, p.Since)
		}),
		define("exportAttempt", func(ctx context.Context, a *API, p ExportAttemptParams) (timeline.ExportResult, error) {
			if err := linkflow.CheckAttemptID(p.AttemptID); err != nil {
				return timeline.ExportResult{}, err
			}
			e, err := a.b.Env()
			if err != nil {
				return timeline.ExportResult{}, err
			}
			return e.Timeline.ExportFormat(p.AttemptID, p.Format)
		}),
		define("exportSession", func(ctx context.Context, a *API, p ExportSessionParams) (timeline.ExportResult, error) {
			e, err := a.b.Env()
			if err != nil {
				return timeline.ExportResult{}, err
			}
			return e.Timeline.ExportFormat("", p.Format)
		}),
		define("openExportFolder", func(ctx context.Context, a *API, _ NoParams) (Folder, error) {
			e, err := a.b.Env()
			if err != nil {
				return Folder{}, err
			}
			dir, err := e.Timeline.ExportDir()
			if err != nil {
				return Folder{}, err
			}
			if err := timeline.OpenFolder(dir); err != nil {
				return Folder{}, err
			}
			return Folder{Dir: dir}, nil
		}),

		// The audit log: every operator action of every environment.
		define("audit.list", func(ctx context.Context, a *API, p AuditListParams) (audit.Page, error) {
			return a.b.AuditLog().List(p.AuditFilter.filter(), p.Page, p.PerPage)
		}),
		define("audit.export", func(ctx context.Context, a *API, p AuditExportParams) (audit.Exported, error) {
			formats, err := audit.ParseFormats(p.Format)
			if err != nil {
				return audit.Exported{}, err
			}
			f := p.AuditFilter.filter()
			if err := f.Check(); err != nil {
				return audit.Exported{}, err
			}
			dir, err := a.exportDir()
			if err != nil {
				return audit.Exported{}, err
			}
			return a.b.AuditLog().Export(dir, f, formats...)
		}),

		// Interrupted attempts (the crash journal).
		define("recovered.list", func(ctx context.Context, a *API, _ NoParams) (journal.Status, error) {
			e, err := a.b.Env()
			if err != nil {
				return journal.Off("no environment is running").Status(), nil
			}
			return e.Journal.Status(), nil
		}),
		define("recovered.dismiss", func(ctx context.Context, a *API, p AttemptParams) (None, error) {
			e, err := a.b.Env()
			if err != nil {
				return nil, err
			}
			return nil, e.Journal.Dismiss(p.AttemptID)
		}),
		define("recovered.recheck", func(ctx context.Context, a *API, _ NoParams) (None, error) {
			e, err := a.b.Env()
			if err != nil {
				return nil, err
			}
			return nil, e.Journal.Recheck(journal.RecheckTimeout)
		}),

		// The simulator's QA scenarios.
		define("scenarios", func(ctx context.Context, a *API, _ NoParams) (Scenarios, error) {
			sm, err := a.sim()
			if err != nil {
				return Scenarios{}, err
			}
			return Scenarios{Scenarios: sm.Scenarios(), Active: sm.ActiveScenario()}, nil
		}),
		// Start the built-in simulator afresh: what was made in it is
		// deleted, attempts running in it are cancelled (the page asks the
		// operator first, saying what is lost).
		define("resetSimulator", func(ctx context.Context, a *API, _ NoParams) (SessionInfo, error) {
			if _, err := a.sim(); err != nil {
				return SessionInfo{}, errors.New("the simulator can be reset only while it is the environment: switch to Simulator first")
			}
			info, err := a.b.ResetSimulator()
			if err == nil {
				a.log.Info("the simulator was reset from the page")
			}
			return info, err
		}),
		define("applyScenario", func(ctx context.Context, a *API, p ScenarioParams) (ActiveScenario, error) {
			sm, err := a.sim()
			if err != nil {
				return ActiveScenario{}, err
			}
			opts := map[string]string{}
			for k, v := range p.Options {
				opts[k] = v
			}
			if p.ID == "connection_expired" && opts["customer_guid"] == "" && opts["account_guid"] == "" && p.CustomerGUID != "" {
				opts["customer_guid"] = p.CustomerGUID
			}
			if err := sm.ApplyScenario(p.ID, opts); err != nil {
				return ActiveScenario{}, err
			}
			a.log.Info("simulator scenario applied", "scenario", p.ID)
			return ActiveScenario{Active: sm.ActiveScenario()}, nil
		}),
	} {
		if _, dup := callTable[c.name]; dup {
			panic("pageapi: call " + c.name + " defined twice")
		}
		callTable[c.name] = c
	}
}

// recording returns the current environment when its journal can record a
// new attempt (journal.Journal.CanRecord; a journal that is off records
// nothing and refuses nothing).
func (a *API) recording() (*environment.Env, error) {
	e, err := a.b.Env()
	if err != nil {
		return nil, err
	}
	if err := e.Journal.CanRecord(); err != nil {
		return nil, err
	}
	return e, nil
}

// attempt returns the current environment after checking an attempt id.
func (a *API) attempt(id string) (*environment.Env, error) {
	if err := linkflow.CheckAttemptID(id); err != nil {
		return nil, err
	}
	return a.b.Env()
}

// deliver hands one Plaid callback to the flow, in order (linkflow.Deliver).
func (a *API) deliver(ctx context.Context, p PlaidParams, cb linkflow.Callback) error {
	e, err := a.attempt(p.AttemptID)
	if err != nil {
		return err
	}
	cb.Seq = p.Seq
	if p.At > 0 {
		cb.At = time.UnixMilli(p.At)
	}
	err = e.Flow.Deliver(ctx, p.AttemptID, cb)
	if errors.Is(err, linkflow.ErrDuplicateCallback) {
		return nil // the page sent it twice: it is recorded once
	}
	return err
}

// auditUnlink records an unlink and how it ended; it returns the record
// (with its time and user) and whether appending it failed.
func (a *API) auditUnlink(e *environment.Env, p AccountParams, row desk.Account, acct cybrid.ExternalBankAccount, err error) (audit.Record, error) {
	rec := audit.Record{Time: time.Now(), User: e.Audit.Log().User(), Action: audit.ActionUnlink, CustomerGUID: p.CustomerGUID, AccountGUID: p.AccountGUID}
	if err != nil {
		rec.Outcome, rec.Detail = audit.OutcomeFailure, err.Error()
	} else {
		rec.Outcome = audit.OutcomeSuccess
		rec.InstitutionID, rec.Institution = row.InstitutionID, row.InstitutionName
		rec.Detail = fmt.Sprintf("Unlinked %s", describeAccount(row))
		rec.Detail += fmt.Sprintf(" (Cybrid: %s)", acct.State)
	}
	return rec, e.Audit.Record(rec)
}

func describeAccount(r desk.Account) string {
	s := r.Name
	if s == "" {
		s = "the account"
	}
	if r.Mask != "" {
		s += " ••" + r.Mask
	}
	return s
}

// markUnlinked fills in who unlinked the deleting and deleted rows, and
// when, from the audit log's last successful unlink of each.
func (a *API) markUnlinked(e *environment.Env, customerGUID string, rows []desk.Account) {
	gone := false
	for _, r := range rows {
		gone = gone || r.State == string(cybrid.AccountDeleted) || r.State == string(cybrid.AccountDeleting)
	}
	if !gone {
		return
	}
	last, err := a.b.AuditLog().Latest(audit.Filter{Environment: string(e.Target.Name), CustomerGUID: customerGUID, Action: audit.ActionUnlink},
		func(r audit.Record) bool { return r.Outcome == audit.OutcomeSuccess })
	if err != nil {
		a.log.Warn("the audit log could not be read for the unlinked accounts", "error", err)
		return
	}
	for i, r := range rows {
		if u, ok := last[r.GUID]; ok && (r.State == string(cybrid.AccountDeleted) || r.State == string(cybrid.AccountDeleting)) {
			rows[i].UnlinkedBy = u.User
			rows[i].UnlinkedAt = u.Time.UTC().Format(time.RFC3339)
		}
	}
}

// exportDir is the folder exports go to: the current environment's
// timeline's (the same as its exports), else the user's download folder.
func (a *API) exportDir() (string, error) {
	if e, err := a.b.Env(); err == nil {
		return e.Timeline.ExportDir()
	}
	return userdirs.Exports()
}

func (f AuditFilter) filter() audit.Filter {
	return audit.Filter{Environment: f.Environment, CustomerGUID: f.CustomerGUID, AccountGUID: f.AccountGUID, Action: audit.Action(f.Action)}
}

// sim returns the running simulator, or says scenarios need it.
func (a *API) sim() (*sim.Sim, error) {
	e, err := a.b.Env()
	if err != nil || !e.Target.Simulated() {
		return nil, errors.New("scenarios exist only in the simulator: switch to Simulator first")
	}
	return e.Target.Sim, nil
}
