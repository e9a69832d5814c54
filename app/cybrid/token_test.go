package cybrid

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOneTokenForFiftyCalls: 25 calls in a row and 25 at once share one token.
func TestOneTokenForFiftyCalls(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	c := f.client(t, nil, nil)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if _, err := c.GetCustomer(ctx, testCustomerGUID, false); err != nil {
			t.Fatal(err)
		}
	}
	c2 := f.client(t, nil, nil) // a fresh client: its first token is fetched under contention
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c2.ListExternalBankAccounts(ctx, ListExternalBankAccountsParams{CustomerGUID: testCustomerGUID})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.apiCount(); n != 50 {
		t.Fatalf("%d API requests, want 50", n)
	}
	if n := f.tokenCount(); n != 2 {
		t.Fatalf("%d token requests for 2 clients × 25 calls, want 2 (one each)", n)
	}
	// Every request carried its client's one token.
	seen := map[string]int{}
	for _, r := range f.apiSeen() {
		seen[r.Auth]++
	}
	issued := f.issuedTokens()
	if len(seen) != 2 || seen["Bearer "+issued[0]] != 25 || seen["Bearer "+issued[1]] != 25 {
		t.Fatalf("Authorization headers used: %v", seen)
	}
}

// TestNewTokenAfterExpiry: a token is reused until just before it expires,
// then replaced by one new token.
func TestNewTokenAfterExpiry(t *testing.T) {
	t.Parallel() // it sleeps until the token is due for renewal; nothing shared with other tests
	f := newFakeCybrid(t, "test-secret-0123456789")
	f.with(func() { f.expiresIn = 2 }) // reused for half its life: 1 s
	c := f.client(t, nil, nil)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.GetCustomer(ctx, testCustomerGUID, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenCount(); n != 1 {
		t.Fatalf("%d token requests before expiry, want 1", n)
	}
	time.Sleep(1100 * time.Millisecond)
	for i := 0; i < 5; i++ {
		if _, err := c.GetCustomer(ctx, testCustomerGUID, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenCount(); n != 2 {
		t.Fatalf("%d token requests after expiry, want 2", n)
	}

	// A 30-minute token is reused until 30 s before it expires.
	f.with(func() { f.expiresIn = 1800 })
	c = f.client(t, nil, nil)
	info, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := c.tokens.Token()
	if d := tok.Expiry.Sub(info.Expiry); d != 0 {
		t.Fatalf("reuse horizon differs from the real expiry by %v for a long token", d)
	}
	if d := info.Expiry.Sub(info.ObtainedAt); d != 1800*time.Second {
		t.Fatalf("expiry = obtained + %v", d)
	}
	if tok.Valid() != true {
		t.Fatal("a fresh 30-minute token is not valid")
	}
}

// TestUnauthorizedRetriesOnceWithANewToken: a 401 mid-flow costs one new
// token and one retry (same body for a POST); a second 401 is returned.
func TestUnauthorizedRetriesOnceWithANewToken(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	var seen calls
	c := f.client(t, nil, seen.observe)
	ctx := context.Background()
	if _, err := c.GetCustomer(ctx, testCustomerGUID, false); err != nil {
		t.Fatal(err)
	}
	f.revokeAll() // e.g. the token was revoked or the server's clock says it expired

	wf, err := c.CreateWorkflow(ctx, PostWorkflow{Kind: LinkTokenCreate, CustomerGUID: testCustomerGUID, Language: "en", LinkCustomizationName: "default"})
	if err != nil {
		t.Fatalf("after a 401 the call should succeed with a new token: %v", err)
	}
	if wf.GUID == "" {
		t.Fatal("no workflow")
	}
	if n := f.tokenCount(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	reqs := f.apiSeen()
	if len(reqs) != 3 {
		t.Fatalf("%d API requests, want 3 (get, refused post, retried post)", len(reqs))
	}
	if !bytes.Equal(reqs[1].Body, reqs[2].Body) || len(reqs[2].Body) == 0 || reqs[1].Auth == reqs[2].Auth {
		t.Fatalf("retry: bodies %q / %q, auth changed: %v", reqs[1].Body, reqs[2].Body, reqs[1].Auth != reqs[2].Auth)
	}
	var statuses []int
	for _, call := range seen.list() {
		if call.Path == "/api/workflows" {
			statuses = append(statuses, call.Status)
		}
	}
	if len(statuses) != 2 || statuses[0] != 401 || statuses[1] != 201 {
		t.Fatalf("observed statuses for the POST: %v, want [401 201]", statuses)
	}

	// The API refuses every token: one new token, one retry, then the error.
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			errorResponse(w, 401, "invalid_subject", "Invalid Subject type. Required: customer or bank")
			return true
		}
	})
	_, err = c.GetWorkflow(ctx, wf.GUID)
	var ae *APIError
	if !IsUnauthorized(err) || !errors.As(err, &ae) || ae.MessageCode != "invalid_subject" {
		t.Fatalf("GetWorkflow with refused tokens: %v", err)
	}
	if !strings.Contains(err.Error(), "same Cybrid environment") {
		t.Fatalf("a final 401 should say what to check: %v", err)
	}
	if n := f.tokenCount(); n != 3 {
		t.Fatalf("%d token requests, want 3 (one more for the refused call)", n)
	}
	if n := f.apiCount(); n != 5 {
		t.Fatalf("%d API requests, want 5 (two more for the refused call)", n)
	}
}

// TestConcurrent401sFetchOneToken: calls that fail together with the same
// stale token cause a single new token.
func TestConcurrent401sFetchOneToken(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	c := f.client(t, nil, nil)
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	f.revokeAll()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GetCustomer(ctx, testCustomerGUID, false)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenCount(); n != 2 {
		t.Fatalf("%d token requests, want 2 (the stale one and one new)", n)
	}
}

// TestCancelWhileTokenRequestHangs: the caller's context ends the wait for a
// slow token endpoint.
func TestCancelWhileTokenRequestHangs(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	release := make(chan struct{})
	defer close(release)
	f.with(func() {
		f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return false
		}
	})
	c := f.client(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetWorkflow(ctx, strings.Repeat("ab", 16))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("returned after %v", d)
	}
	if f.apiCount() != 0 {
		t.Fatal("an API request went out without a token")
	}
}
