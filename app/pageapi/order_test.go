package pageapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/timeline"
)

// delivered is what Plaid Link hands the page for an OAuth bank whose
// customer declines access, in the order Link delivers it (the simulated
// Link's oauth_deny path).
func delivered(attemptID string) []map[string]any {
	ev := func(name string, meta map[string]any) map[string]any {
		meta["link_session_id"] = "s-1"
		return map[string]any{"call": "plaid.onEvent", "event_name": name, "metadata": meta}
	}
	inst := map[string]any{"institution_id": "ins_127287", "name": "Platypus OAuth Bank"}
	return []map[string]any{
		{"call": "plaid.onLoad"},
		ev("OPEN", map[string]any{"view_name": "CONSENT"}),
		ev("TRANSITION_VIEW", map[string]any{"view_name": "SELECT_INSTITUTION"}),
		ev("SELECT_INSTITUTION", map[string]any{"institution_id": "ins_127287", "institution_name": "Platypus OAuth Bank"}),
		ev("TRANSITION_VIEW", map[string]any{"view_name": "OAUTH"}),
		ev("OPEN_OAUTH", map[string]any{"view_name": "OAUTH"}),
		ev("FAIL_OAUTH", map[string]any{"view_name": "OAUTH"}),
		ev("ERROR", map[string]any{"error_code": "INTERNAL_SERVER_ERROR", "error_type": "API_ERROR"}),
		ev("TRANSITION_VIEW", map[string]any{"view_name": "ERROR"}),
		ev("EXIT", map[string]any{"view_name": "ERROR", "exit_status": "requires_oauth"}),
		{"call": "plaid.onExit",
			"error":    map[string]any{"error_type": "API_ERROR", "error_code": "INTERNAL_SERVER_ERROR", "error_message": "an unexpected error occurred", "display_message": nil},
			"metadata": map[string]any{"status": "requires_oauth", "link_session_id": "s-1", "request_id": "r-9", "institution": inst, "brand_new_field": []any{1, "two"}}},
	}
}

// Plaid's callbacks reach Go as concurrent requests, processed in whatever
// order goroutines run. However late each is processed (random delays in
// Go), the flow applies them in Link's delivery order: the timeline, its
// JSON Lines and its HTML report list them in that order, whole, and the
// attempt ends by the onExit that came last — every event before it is
// recorded before the failure.
func TestCallbacksAreRecordedInDeliveryOrder(t *testing.T) {
	env := simEnv(t)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	cust := env.Target.Sim.Cybrid.Customers()[0].GUID
	for round := 0; round < 5; round++ {
		v, err := serve(t, api, "startLink", `{"customer_guid":"`+cust+`"}`)
		if err != nil {
			t.Fatal(err)
		}
		id := v.(linkflow.Attempt).ID
		waitAttempt(t, env, id, "link_open", func(a linkflow.Attempt) bool { return a.State == linkflow.LinkOpen })
		calls := delivered(id)
		t0 := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(calls))
		for i, c := range calls {
			params := map[string]any{"attempt_id": id, "seq": i + 1, "at": t0.Add(time.Duration(i) * time.Millisecond).UnixMilli()}
			for k, v := range c {
				if k != "call" {
					params[k] = v
				}
			}
			b, _ := json.Marshal(params)
			delay := time.Duration(rand.IntN(40)) * time.Millisecond
			wg.Add(1)
			go func(name string, b []byte) {
				defer wg.Done()
				time.Sleep(delay) // the goroutine's processing delay
				if _, err := api.Serve(t.Context(), name, b); err != nil {
					errs <- fmt.Errorf("%s: %v", name, err)
				}
			}(c["call"].(string), b)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		final := waitAttempt(t, env, id, "ended", func(a linkflow.Attempt) bool { return a.State.Final() })
		if final.State != linkflow.Failed || final.Code != "INTERNAL_SERVER_ERROR" || final.PlaidSeq != len(calls) {
			t.Errorf("round %d: the attempt ended %s (%s), plaid_seq %d", round, final.State, final.Code, final.PlaidSeq)
		}

		// The timeline, in recording order.
		res, err := env.Timeline.Timeline(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var seqs []int
		for _, e := range res.Entries {
			if e.Kind != timeline.KindPlaidEvent && e.Kind != timeline.KindPlaidCallback {
				continue
			}
			got = append(got, label(e.Message))
			seqs = append(seqs, int(toF(e.Data["seq"])))
			if e.Kind == timeline.KindPlaidEvent && label(e.Message) != "ERROR" && e.Data["state"] == "failed" {
				t.Errorf("round %d: %q is recorded after the failure, though Link delivered it before onExit", round, e.Message)
			}
		}
		want := wantOrder(calls)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("round %d: recorded\n  %v\nLink delivered\n  %v", round, got, want)
		}
		for i, s := range seqs {
			if s != i+1 {
				t.Errorf("round %d: entry %d has seq %d", round, i, s)
			}
		}
		// onExit is kept whole: its error and every metadata field, also
		// one Plaid added.
		exit := res.Entries[len(res.Entries)-1]
		for _, e := range res.Entries {
			if e.Message == "Plaid Link: onExit" {
				exit = e
			}
		}
		b, _ := json.Marshal(exit.Data)
		for _, want := range []string{`"error_message":"an unexpected error occurred"`, `"request_id":"r-9"`, `"brand_new_field":[1,"two"]`, `"institution_id":"ins_127287"`, `"delivered_at"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("round %d: onExit's entry lacks %s: %s", round, want, b)
			}
		}

		// The exports list them in the same order.
		var jl bytes.Buffer
		if err := env.Timeline.WriteJSONL(&jl, id); err != nil {
			t.Fatal(err)
		}
		var fromJSONL []string
		sc := bufio.NewScanner(&jl)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e timeline.Entry
			if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Kind == timeline.KindPlaidEvent || e.Kind == timeline.KindPlaidCallback) {
				fromJSONL = append(fromJSONL, label(e.Message))
			}
		}
		if strings.Join(fromJSONL, " ") != strings.Join(want, " ") {
			t.Errorf("round %d: the JSON Lines export lists\n  %v", round, fromJSONL)
		}
		var html bytes.Buffer
		if err := env.Timeline.WriteHTML(&html, id); err != nil {
			t.Fatal(err)
		}
		var fromHTML []string
		for _, m := range htmlEventRE.FindAllStringSubmatch(html.String(), -1) {
			fromHTML = append(fromHTML, label(m[1]))
		}
		if strings.Join(fromHTML, " ") != strings.Join(want, " ") {
			t.Errorf("round %d: the HTML report lists\n  %v", round, fromHTML)
		}
		if !strings.Contains(html.String(), "brand_new_field") {
			t.Errorf("round %d: the HTML report lost onExit's metadata", round)
		}
	}
}

var htmlEventRE = regexp.MustCompile(`(onEvent [A-Z_]+|Plaid Link: on[A-Za-z]+)`)

// label names a callback the same way in the timeline and the exports.
func label(msg string) string {
	msg = strings.TrimPrefix(msg, "Plaid Link event ")
	msg = strings.TrimPrefix(msg, "onEvent ")
	return strings.TrimPrefix(msg, "Plaid Link: ")
}

func wantOrder(calls []map[string]any) []string {
	var out []string
	for _, c := range calls {
		if name, ok := c["event_name"].(string); ok {
			out = append(out, name)
		} else {
			out = append(out, strings.TrimPrefix(c["call"].(string), "plaid."))
		}
	}
	return out
}

func toF(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	}
	return -1
}
