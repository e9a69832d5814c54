package pageapi_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"linkdesk/app/environment"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/sim"
	"linkdesk/app/target"
	"linkdesk/app/timeline"
)

// prefetchEnv is a real sim environment with prefetching on (its own shelf)
// and workflows of delay; pushed collects the prepared pushes.
func prefetchEnv(t *testing.T, delay time.Duration) (*environment.Env, chan linkflow.Prepared) {
	t.Helper()
	sims := target.NewSimulator(sim.Options{WorkflowDelay: delay, AccountDelay: -1})
	t.Cleanup(sims.Close)
	tg, err := target.Resolve(simConfig(t), keychain.NewMemory(), sims)
	if err != nil {
		t.Fatal(err)
	}
	pushed := make(chan linkflow.Prepared, 100)
	e, err := environment.Start(tg, environment.Hooks{Version: "test", Log: slog.New(slog.DiscardHandler), StateDir: t.TempDir(),
		Shelf: linkflow.NewShelf(), OnPrepared: func(p linkflow.Prepared) { pushed <- pageapi.PreparedPush(p).Prepared }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, pushed
}

func waitPrepared(t *testing.T, pushed chan linkflow.Prepared, state string) linkflow.Prepared {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p := <-pushed:
			if p.State == state {
				return p
			}
		case <-timeout:
			t.Fatalf("no %s prepared push within 10 s", state)
		}
	}
}

// The page's prefetch calls: prefetchLink prepares (null for a customer who
// cannot link), the token arrives pushed, startLink takes it under the
// reserved id, prefetchRefused replaces it, linkShown is recorded.
func TestPrefetchThroughThePageCalls(t *testing.T) {
	env, pushed := prefetchEnv(t, 200*time.Millisecond)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	var cust, frozen string
	for _, c := range env.Target.Sim.Cybrid.Customers() {
		switch {
		case c.State == "verified" && cust == "":
			cust = c.GUID
		case c.State == "frozen":
			frozen = c.GUID
		}
	}
	v, err := serve(t, api, "prefetchLink", `{"customer_guid":"`+cust+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	first := v.(*linkflow.Prepared)
	if first.State != linkflow.PreparedPending || first.LinkToken != "" {
		t.Fatalf("prefetchLink = %+v", first)
	}
	ready := waitPrepared(t, pushed, linkflow.PreparedReady)
	if ready.AttemptID != first.AttemptID || ready.LinkToken == "" || ready.CustomerGUID != cust {
		t.Fatalf("ready push = %+v", ready)
	}
	// Plaid Link refused it before the click: a new one under the same id.
	v, err = serve(t, api, "prefetchRefused", `{"attempt_id":"`+ready.AttemptID+`","error":{"error_type":"INVALID_INPUT","error_code":"INVALID_LINK_TOKEN","error_message":"expired","display_message":null,"extra":1}}`)
	if err != nil {
		t.Fatal(err)
	}
	if p := v.(*linkflow.Prepared); p.AttemptID != ready.AttemptID || p.State != linkflow.PreparedPending {
		t.Errorf("prefetchRefused = %+v", p)
	}
	renewed := waitPrepared(t, pushed, linkflow.PreparedReady)
	if renewed.LinkToken == ready.LinkToken {
		t.Error("the refused token came back")
	}
	v, err = serve(t, api, "startLink", `{"customer_guid":"`+cust+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	a := v.(linkflow.Attempt)
	if a.ID != ready.AttemptID || a.State != linkflow.LinkOpen || a.LinkToken != renewed.LinkToken {
		t.Fatalf("startLink = %+v", a)
	}
	if _, err := serve(t, api, "linkShown", `{"attempt_id":"`+a.ID+`","click_ms":42.4,"signal":"first_pane","prepared":true,"phases":{"attempt":9.5,"opened":10,"open_event":30.1}}`); err != nil {
		t.Fatal(err)
	}
	tl, err := env.Timeline.Timeline(a.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range tl.Entries {
		lines = append(lines, string(e.Kind)+": "+e.Message)
		if strings.Contains(e.Message, renewed.LinkToken) || strings.Contains(e.Message, ready.LinkToken) {
			t.Errorf("a link token reached the timeline: %s", e.Message)
		}
	}
	for _, e := range tl.Entries {
		if e.Kind == timeline.KindLinkWindow {
			ph, _ := e.Data["phases_ms"].(map[string]any)
			if e.Data["click_to_usable_ms"] != 42.4 || ph["attempt"] != 9.5 || ph["open_event"] != 30.1 {
				t.Errorf("linkShown recorded %v", e.Data)
			}
		}
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{
		"note: Preparing a link token before the click: the operator opened the customer",
		"note: Workflow ",
		"note: Plaid Link refused the prepared link token before the click (INVALID_LINK_TOKEN: expired)",
		"state: Opening Plaid Link with the link token prepared",
		"link_window: Plaid Link on screen and usable 42 ms after the click (Link created before the click)",
		"api: POST /api/workflows",
		"api: GET /api/customers/" + cust,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the attempt's timeline lacks %q:\n%s", want, all)
		}
	}
	if strings.Count(all, "api: POST /api/workflows") != 2 {
		t.Errorf("want both workflows filed under the attempt:\n%s", all)
	}
	if _, ok := tl.Entries[0].Data["prepared"]; !ok || tl.Entries[0].Kind != timeline.KindNote {
		t.Errorf("the attempt's timeline does not begin with the prefetch: %+v", tl.Entries[0])
	}

	// A customer who cannot link: nothing prepared, no workflow.
	posts := env.Target.Sim.Cybrid.Stats().ByRoute["POST /api/workflows"]
	if _, err := serve(t, api, "prefetchLink", `{"customer_guid":"`+frozen+`"}`); err != nil {
		t.Fatal(err)
	}
	if gone := waitPrepared(t, pushed, linkflow.PreparedGone); !strings.Contains(gone.Gone, "frozen") {
		t.Errorf("frozen customer: %+v", gone)
	}
	if n := env.Target.Sim.Cybrid.Stats().ByRoute["POST /api/workflows"]; n != posts {
		t.Errorf("%d workflows created for a frozen customer", n-posts)
	}

	for _, c := range []struct{ method, params, want string }{
		{"prefetchLink", `{"customer_guid":"x"}`, "32 lowercase hexadecimal"},
		{"prefetchLink", `{"customer":"` + cust + `"}`, "unknown parameter"},
		{"prefetchRefused", `{"attempt_id":"nope"}`, "not an attempt id"},
		{"prefetchRefused", `{"attempt_id":"` + a.ID + `","error":"x"}`, "Plaid's shape"},
		{"linkShown", `{"attempt_id":"` + a.ID + `","click_ms":-1,"signal":"first_pane"}`, "not a time"},
		{"linkShown", `{"attempt_id":"` + a.ID + `","click_ms":1,"signal":"dom"}`, "not first_pane or open_event"},
		{"linkShown", `{"attempt_id":"feedfeedfeedfeed","click_ms":1,"signal":"open_event"}`, "unknown attempt"},
		{"linkShown", `{"attempt_id":"` + a.ID + `","click_ms":1,"signal":"open_event","phases":{"paint":1}}`, "phase \"paint\" is not"},
		{"linkShown", `{"attempt_id":"` + a.ID + `","click_ms":1,"signal":"open_event","phases":{"attempt":-5}}`, "not milliseconds"},
	} {
		if _, err := serve(t, api, c.method, c.params); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%s) = %v, want %q", c.method, c.params, err, c.want)
		}
	}
}

// With prefetching off (no shelf) prefetchLink prepares nothing.
func TestPrefetchLinkOff(t *testing.T) {
	env := simEnv(t)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	cust := env.Target.Sim.Cybrid.Customers()[0].GUID
	v, err := serve(t, api, "prefetchLink", `{"customer_guid":"`+cust+`"}`)
	if err != nil || v.(*linkflow.Prepared) != nil {
		t.Errorf("prefetchLink with prefetching off = %v, %v", v, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := env.Target.Sim.Cybrid.Stats().APIRequests; n != 0 {
		t.Errorf("%d API requests with prefetching off", n)
	}
}
