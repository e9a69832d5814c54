package linkflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
)

// plaidEvents returns the attempt's Plaid events and callbacks as the
// observer heard them: "seq:name[:late]".
func (r *rig) plaidEvents(id string) []string {
	var out []string
	for _, ev := range r.Events() {
		if ev.AttemptID != id || ev.Type != "plaid_event" && ev.Type != "plaid_callback" {
			continue
		}
		s := strings.TrimPrefix(strings.TrimPrefix(ev.Message, "Plaid Link event "), "Plaid Link: ")
		s = strings.TrimSuffix(s, " (arrived late)")
		item := itoa(ev.Seq) + ":" + s
		if ev.Data["late"] == true {
			item += ":late"
		}
		out = append(out, item)
	}
	return out
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func event(seq int, name string) linkflow.Callback {
	return linkflow.Callback{Kind: linkflow.OnEvent, Seq: seq, EventName: name, Metadata: json.RawMessage(`{"view_name":"X"}`)}
}

// A callback that arrives early waits for the earlier ones; one that never
// comes is given up on after CallbackGap and, if it turns up after all, is
// still recorded, marked late; a repeated one is recorded once.
func TestDeliverOrdersCallbacksAndSurvivesGaps(t *testing.T) {
	t.Parallel() // its own simulator and flow; it waits on the flow's real-time timers
	r := newRig(t, sim.Options{WorkflowDelay: -1}, linkflow.Settings{CallbackGap: 300 * time.Millisecond})
	a, err := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	if err != nil {
		t.Fatal(err)
	}
	r.Until(a.ID, linkflow.LinkOpen)
	ctx := context.Background()

	// 3 arrives first, then 2, then 1: applied 1, 2, 3.
	done := make(chan error, 3)
	go func() { done <- r.Flow.Deliver(ctx, a.ID, event(3, "C")) }()
	time.Sleep(30 * time.Millisecond)
	go func() { done <- r.Flow.Deliver(ctx, a.ID, event(2, "B")) }()
	time.Sleep(30 * time.Millisecond)
	if err := r.Flow.Deliver(ctx, a.ID, event(1, "A")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// 5 arrives, 4 does not: after the gap 5 goes on, and the gap is noted.
	start := time.Now()
	if err := r.Flow.Deliver(ctx, a.ID, event(5, "E")); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond || waited > 2*time.Second {
		t.Errorf("callback 5 waited %v for the missing 4; want about the 300 ms gap", waited)
	}
	// 4 turns up late; 5 is sent again.
	if err := r.Flow.Deliver(ctx, a.ID, event(4, "D")); err != nil {
		t.Fatal(err)
	}
	if err := r.Flow.Deliver(ctx, a.ID, event(5, "E")); !errors.Is(err, linkflow.ErrDuplicateCallback) {
		t.Errorf("a repeated callback: %v, want ErrDuplicateCallback", err)
	}
	if err := r.Flow.Deliver(ctx, a.ID, event(0, "Z")); err == nil {
		t.Error("a callback without a sequence number was accepted")
	}
	got := strings.Join(r.plaidEvents(a.ID), " ")
	if got != "1:A 2:B 3:C 5:E 4:D:late" {
		t.Errorf("recorded %q, want 1:A 2:B 3:C 5:E 4:D:late", got)
	}
	noted := false
	for _, ev := range r.Events() {
		noted = noted || ev.AttemptID == a.ID && strings.Contains(ev.Message, "Plaid callback 4 did not reach linkdesk")
	}
	if !noted {
		t.Error("the missing callback was not noted on the attempt")
	}
	if at, _ := r.Flow.Get(a.ID); at.PlaidSeq != 5 {
		t.Errorf("PlaidSeq = %d, want 5", at.PlaidSeq)
	}
	// A callback waiting for a missing one gives up when its context ends
	// first (here 50 ms, before the 300 ms gap).
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := r.Flow.Deliver(cctx, a.ID, event(7, "G")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("callback 7 waiting for 6 with a 50 ms context: %v", err)
	}
}

// The OAuth return is taken once, and only while Link waits for the bank.
func TestOAuthReturnOnlyWhileWaitingOnce(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: -1}, linkflow.Settings{})
	if _, err := r.Flow.OAuthReturn("http://localhost:1/oauth/return?oauth_state_id=x"); !errors.Is(err, linkflow.ErrNotWaitingForBank) {
		t.Fatalf("with no attempt: %v", err)
	}
	a, err := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	if err != nil {
		t.Fatal(err)
	}
	r.Until(a.ID, linkflow.LinkOpen)
	ctx := context.Background()
	r.Flow.Deliver(ctx, a.ID, event(1, "OPEN"))
	if _, err := r.Flow.OAuthReturn("http://localhost:1/oauth/return?oauth_state_id=x"); !errors.Is(err, linkflow.ErrNotWaitingForBank) {
		t.Fatalf("before Link sent the customer to the bank: %v", err)
	}
	r.Flow.Deliver(ctx, a.ID, event(2, "OPEN_OAUTH"))
	got, err := r.Flow.OAuthReturn("http://localhost:1/oauth/return?oauth_state_id=x")
	if err != nil || got.ID != a.ID {
		t.Fatalf("while waiting: %+v, %v", got, err)
	}
	if _, err := r.Flow.OAuthReturn("http://localhost:1/oauth/return?oauth_state_id=y"); !errors.Is(err, linkflow.ErrNotWaitingForBank) {
		t.Errorf("a second return for the same wait: %v", err)
	}
	// A bank window that opens starts a new wait; the end of Link ends it.
	if n := r.Flow.AwaitBank("The bank's sign-in window opened", nil); n != 1 {
		t.Fatalf("AwaitBank reached %d attempts", n)
	}
	r.Flow.Deliver(ctx, a.ID, linkflow.Callback{Kind: linkflow.OnExit, Seq: 3, Metadata: json.RawMessage(`{"status":"requires_oauth"}`)})
	if _, err := r.Flow.OAuthReturn("http://localhost:1/oauth/return?oauth_state_id=z"); !errors.Is(err, linkflow.ErrNotWaitingForBank) {
		t.Errorf("after onExit: %v", err)
	}
}

// A bank page whose address carries its oauth_state_id pins the wait to it:
// a return with another id (foreign) or one already taken (stale) is
// refused, and so is a return without any; Link's events name the bank; a
// wait in the system browser shows on the attempt until it ends.
func TestOAuthReturnTakesOnlyTheAwaitedState(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: -1}, linkflow.Settings{})
	a, err := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	if err != nil {
		t.Fatal(err)
	}
	r.Until(a.ID, linkflow.LinkOpen)
	ctx := context.Background()
	r.Flow.Deliver(ctx, a.ID, linkflow.Callback{Kind: linkflow.OnEvent, Seq: 1, EventName: "SELECT_INSTITUTION",
		Metadata: json.RawMessage(`{"institution_id":"ins_56","institution_name":"Chase"}`)})
	if got, ins, ok := r.Flow.OpenLink(); !ok || got.ID != a.ID || ins != "ins_56" {
		t.Fatalf("OpenLink = %s, %q, %v; want the attempt and ins_56 from SELECT_INSTITUTION", got.ID, ins, ok)
	}
	reached := r.Flow.AwaitBankAt(linkflow.BankWait{Message: "The bank's sign-in page opened in the system browser", InBrowser: true,
		PageURL: "http://localhost:2/link/v2/stable/sandbox-oauth-login.html?oauth_state_id=s-1"})
	if len(reached) != 1 || !reached[0].BankInBrowser {
		t.Fatalf("AwaitBankAt reached %+v; want the attempt, waiting for its bank in the browser", reached)
	}
	const ret = "http://localhost:1/oauth/return?oauth_state_id="
	for _, c := range []struct {
		url  string
		want error
	}{
		{"http://localhost:1/oauth/return", linkflow.ErrNoOAuthState},
		{ret + "bad%20id", linkflow.ErrNoOAuthState},
		{ret + "s-2", linkflow.ErrForeignOAuthState},
	} {
		if _, err := r.Flow.OAuthReturn(c.url); !errors.Is(err, c.want) {
			t.Errorf("OAuthReturn(%s) = %v, want %v", c.url, err, c.want)
		}
	}
	if got, _ := r.Flow.Get(a.ID); !got.BankInBrowser {
		t.Fatal("a refused return ended the wait")
	}
	if got, err := r.Flow.OAuthReturn(ret + "s-1"); err != nil || got.ID != a.ID || got.BankInBrowser {
		t.Fatalf("the awaited return: %+v, %v", got, err)
	}
	// The same answer again, even while a new wait (with no state known)
	// runs, is stale.
	r.Flow.AwaitBankAt(linkflow.BankWait{Message: "The bank's sign-in window opened"})
	if _, err := r.Flow.OAuthReturn(ret + "s-1"); !errors.Is(err, linkflow.ErrStaleOAuthState) {
		t.Errorf("the same oauth_state_id twice: %v", err)
	}
	// The operator cancels a wait in the browser: a later return is refused.
	r.Flow.AwaitBankAt(linkflow.BankWait{Message: "in the browser", InBrowser: true, PageURL: "https://bank.example/?oauth_state_id=s-3"})
	if n := r.Flow.EndBankWait("cancelled", nil); n != 1 {
		t.Fatalf("EndBankWait reached %d", n)
	}
	if got, _ := r.Flow.Get(a.ID); got.BankInBrowser {
		t.Error("the cancelled wait still shows")
	}
	if _, err := r.Flow.OAuthReturn(ret + "s-3"); !errors.Is(err, linkflow.ErrNotWaitingForBank) {
		t.Errorf("a return after the operator cancelled the wait: %v", err)
	}
}
