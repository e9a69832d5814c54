package timeline

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

//go:embed report.gohtml
var reportSource string

var reportTemplate = template.Must(template.New("report").Parse(reportSource))

type reportView struct {
	Title, Env, EnvClass, EnvBanner string
	Bank, Version, Exported         string
	Range, Scope                    string
	Entries                         int
	Dropped                         int64
	Attempts                        []attemptView
	// Session holds the session-level entries of a session export.
	Session []rowView
}

type attemptView struct {
	ID, Kind, Customer, Result, ResultClass string
	Code, Error                             string
	Workflow, Account, AccountDesc          string
	Institution, ExitStatus                 string
	Started, Ended, Duration                string
	Polls                                   int
	Dropped                                 int64
	Rows                                    []rowView
}

type kv struct{ K, V string }

type rowView struct {
	Rel, Clock, Kind, KindLabel, Message string
	// API calls.
	IsAPI                                   bool
	Method, Path, Status, StatusClass, Took string
	Retry, Error                            string
	From, To, WhatToDo                      string
	Details                                 []kv
	// Bodies are an API call's request and response, pretty-printed.
	Bodies  []kv
	IsToken bool
	Late    string
	Bad     bool
}

var kindLabels = map[Kind]string{
	KindState: "state", KindAPI: "API", KindPlaidCallback: "Plaid callback",
	KindPlaidEvent: "Plaid event", KindLinkWindow: "Link window", KindNote: "note",
}

func envView(env string) (class, banner string) {
	switch env {
	case "production":
		return "production", "PRODUCTION — real customers, real bank accounts"
	case "sandbox":
		return "sandbox", "SANDBOX — Cybrid and Plaid test environment"
	case "sim":
		return "sim", "SIMULATOR — linkdesk's built-in simulator; no real service was called"
	}
	return "other", "environment " + strings.ToUpper(env)
}

func (r *Recorder) renderHTML(w io.Writer, s snapshot, now time.Time) error {
	v := reportView{
		Env: r.opts.Environment, Bank: orDash(r.opts.BankGUID), Version: orDash(r.opts.Version),
		Exported: now.UTC().Format("2006-01-02 15:04:05 UTC"), Entries: len(s.entries), Dropped: s.dropped,
	}
	v.EnvClass, v.EnvBanner = envView(r.opts.Environment)
	if s.scope == "attempt" {
		v.Scope = "one attempt (" + s.attempt + ")"
		v.Title = fmt.Sprintf("linkdesk %s — attempt %s", strings.ToUpper(v.Env), s.attempt)
	} else {
		v.Scope = fmt.Sprintf("whole session (%d attempts)", len(s.attempts))
		v.Title = fmt.Sprintf("linkdesk %s — session report", strings.ToUpper(v.Env))
	}
	if n := len(s.entries); n > 0 {
		from, to := s.entries[0].Time, s.entries[n-1].Time
		v.Range = fmt.Sprintf("%s → %s UTC (%s)", from.Format("2006-01-02 15:04:05"), to.Format("15:04:05"), roundDur(to.Sub(from)))
	} else {
		v.Range = "no entries"
	}
	byAttempt := map[string][]Entry{}
	var session []Entry
	for _, e := range s.entries {
		switch {
		case e.AttemptID != "":
			byAttempt[e.AttemptID] = append(byAttempt[e.AttemptID], e)
		case e.Seq != 0:
			session = append(session, e)
		}
	}
	for _, list := range byAttempt {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Seq < list[j].Seq })
	}
	for _, a := range s.attempts {
		av := attemptView{
			ID: a.ID, Kind: kindName(a), Customer: a.CustomerGUID, Result: string(a.State),
			Code: a.Code, Error: a.Error, Workflow: orDash(a.WorkflowGUID), Account: orDash(a.AccountGUID),
			Institution: orDash(a.Institution), ExitStatus: a.ExitStatus, Polls: a.Polls,
			Started: a.StartedAt.Format("2006-01-02 15:04:05.000 UTC"), Duration: roundDur(time.Duration(a.DurationMS) * time.Millisecond),
			Dropped: r.droppedFor(a.ID, s),
		}
		av.ResultClass = resultClass(a)
		if !a.Ended {
			av.Result += " (still running at export)"
			av.Duration += " so far"
		}
		if !a.EndedAt.IsZero() {
			av.Ended = a.EndedAt.Format("15:04:05.000 UTC")
		}
		if a.AccountState != "" {
			av.AccountDesc = a.AccountState
			if a.AccountName != "" {
				av.AccountDesc += " · " + a.AccountName
			}
			if a.AccountMask != "" {
				av.AccountDesc += " ····" + a.AccountMask
			}
		}
		for _, e := range byAttempt[a.ID] {
			av.Rows = append(av.Rows, rowFor(e, a.StartedAt))
		}
		v.Attempts = append(v.Attempts, av)
	}
	if len(session) > 0 {
		start := session[0].Time
		if len(s.entries) > 0 && s.entries[0].Seq != 0 {
			start = s.entries[0].Time
		}
		for _, e := range session {
			v.Session = append(v.Session, rowFor(e, start))
		}
	}
	return reportTemplate.Execute(w, v)
}

func (r *Recorder) droppedFor(id string, s snapshot) int64 {
	if s.scope == "attempt" {
		return s.dropped
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.droppedBy[id]
}

func kindName(a Attempt) string {
	switch a.Kind {
	case "link":
		return "Link new account"
	case "refresh":
		return "Refresh connection (update mode)"
	}
	return string(a.Kind)
}

func resultClass(a Attempt) string {
	switch {
	case !a.Ended:
		return "running"
	case a.State == "done":
		return "ok"
	case a.State == "exited":
		return "warn"
	}
	return "bad"
}

func rowFor(e Entry, start time.Time) rowView {
	rv := rowView{
		Rel: relTime(e.Time.Sub(start)), Clock: e.Time.Format("15:04:05.000"),
		Kind: string(e.Kind), KindLabel: kindLabels[e.Kind], Message: e.Message,
	}
	if rv.KindLabel == "" {
		rv.KindLabel = string(e.Kind)
	}
	d := e.Data
	if e.AttemptID != "" {
		rv.From, _ = d["from"].(string)
		if e.Kind == KindState || rv.From != "" {
			rv.To, _ = d["state"].(string)
		}
		rv.WhatToDo, _ = d["what_to_do"].(string)
		rv.Bad = rv.From != "" && rv.To == "failed"
	}
	switch e.Kind {
	case KindAPI:
		rv.IsAPI = true
		rv.Method, _ = d["method"].(string)
		rv.Path, _ = d["path"].(string)
		rv.IsToken = strings.HasSuffix(strings.SplitN(rv.Path, "?", 2)[0], "/oauth/token")
		status := toInt(d["status"])
		rv.Status, rv.StatusClass = statusText(status), statusClass(status)
		if ms, ok := toFloat(d["duration_ms"]); ok {
			rv.Took = formatMS(ms)
		}
		if why, _ := d["retry"].(string); why != "" {
			rv.Retry = why
			if n := toInt(d["try"]); n > 1 {
				rv.Retry = fmt.Sprintf("try %d, after %s", n, why)
			}
		}
		rv.Error, _ = d["error"].(string)
		if rv.Error != "" {
			rv.StatusClass = "bad"
		}
		for _, k := range []string{"request", "response"} {
			if v, ok := d[k]; ok && v != nil {
				b, _ := json.MarshalIndent(v, "", "  ")
				rv.Bodies = append(rv.Bodies, kv{k, string(b)})
			}
		}
		return rv
	case KindState:
		rv.Details = flatten(d, "", map[string]bool{"state": true, "from": true, "what_to_do": true})
	case KindPlaidEvent:
		if seq, ok := d["seq"]; ok {
			rv.Details = append(rv.Details, kv{"seq", fmt.Sprint(seq)})
		}
		if m, ok := d["metadata"].(map[string]any); ok {
			rv.Details = append(rv.Details, flatten(m, "", nil)...)
		}
		if name, _ := d["event"].(string); name != "" {
			rv.Message = "onEvent " + name
			rv.Bad = rv.Bad || name == "ERROR"
		}
		// Plaid may hand events over late (many arrive together at the end
		// of Link); its own timestamp says when each happened.
		if m, ok := d["metadata"].(map[string]any); ok {
			if ts, ok := m["timestamp"].(string); ok {
				if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && e.Time.Sub(at) > time.Second {
					rv.Late = fmt.Sprintf("happened %s (%s), reported %s later", at.UTC().Format("15:04:05.000"), relTime(at.Sub(start)), roundDur(e.Time.Sub(at)))
				}
			}
		}
	default:
		rv.Details = flatten(d, "", map[string]bool{"state": true, "from": true, "what_to_do": true})
	}
	return rv
}

// flatten renders data as sorted key=value pairs, nested keys dotted, empty
// values left out.
func flatten(m map[string]any, prefix string, skip map[string]bool) []kv {
	var out []kv
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := prefix + k
		switch v := m[k].(type) {
		case nil:
		case string:
			if v != "" {
				out = append(out, kv{name, v})
			}
		case map[string]any:
			out = append(out, flatten(v, name+".", nil)...)
		case []any:
			parts := make([]string, 0, len(v))
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					var sub []string
					for _, p := range flatten(em, "", nil) {
						sub = append(sub, p.K+"="+p.V)
					}
					parts = append(parts, "{"+strings.Join(sub, " ")+"}")
				} else {
					parts = append(parts, fmt.Sprint(e))
				}
			}
			if len(parts) > 0 {
				out = append(out, kv{name, "[" + strings.Join(parts, ", ") + "]"})
			}
		default:
			out = append(out, kv{name, fmt.Sprint(v)})
		}
	}
	return out
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	}
	return 0
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

func statusClass(s int) string {
	switch {
	case s >= 200 && s < 300:
		return "ok"
	case s >= 300 && s < 500:
		return "warn"
	}
	return "bad"
}

func formatMS(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", ms/1000)
}

func relTime(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	if d < time.Minute {
		return fmt.Sprintf("%s%.3fs", sign, d.Seconds())
	}
	m := int(d / time.Minute)
	return fmt.Sprintf("%s%dm%06.3fs", sign, m, (d - time.Duration(m)*time.Minute).Seconds())
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
