package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/target"
)

// linkResult is what the link-token and token-reuse figures measured.
type linkResult struct {
	WorkflowDelay time.Duration
	// Cold is the first workflow of a fresh Flow (its Poller has learned
	// nothing); Warm the ones after it.
	Cold  linkRun
	Warm  []linkRun
	Total time.Duration // wall time of the link-token part

	// Token reuse: API and token requests the one client made over the
	// whole run (the workflows above plus the mixed calls).
	APICalls, TokenRequests int
	TokenLifetime           time.Duration
	TokenSpan               time.Duration // from the first to the last call
}

// linkRun is one link-token workflow.
type linkRun struct {
	// Overhead is the time from StartLink to the attempt reaching link_open,
	// minus the simulator's workflow delay.
	Overhead time.Duration
	Polls    int
}

// measureLinkToken runs link-token workflows through the real linkflow.Flow
// and cybrid.Client against the real simulator over loopback, with the
// simulator's workflow delay set to delay: one cold (a fresh Flow), then
// warm ones, started stagger apart so several wait at once. The flow uses
// linkdesk's default configuration (poll schedule, timeouts). Then the same
// client makes extra mixed API calls, and the simulator's counters say how
// many tokens the client asked for across everything.
func measureLinkToken(ctx context.Context, delay time.Duration, warm int, stagger time.Duration, extraCalls int) (linkResult, error) {
	res := linkResult{WorkflowDelay: delay}
	began := time.Now()
	// linkdesk's default configuration, on the simulator as linkdesk
	// resolves it.
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	if err != nil {
		return res, err
	}
	sims := target.NewSimulator(sim.Options{WorkflowDelay: delay})
	defer sims.Close()
	t, err := target.Locate(cfg, sims)
	if err != nil {
		return res, err
	}
	s := t.Sim
	before := s.Cybrid.Stats()
	client, err := cybrid.New(cybrid.Options{
		BankURL: t.BankURL, IdentityURL: t.IdentityURL,
		ClientID: t.Credentials.ClientID, ClientSecret: t.Credentials.ClientSecret, UserAgent: "linkdesk-bench",
	})
	if err != nil {
		return res, err
	}
	custs, err := client.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 25})
	if err != nil {
		return res, fmt.Errorf("listing the simulator's customers: %w", err)
	}
	if len(custs.Objects) == 0 {
		return res, fmt.Errorf("the simulator has no customers")
	}
	firstCall := time.Now()

	type mark struct {
		start, open time.Time
		polls       int
		err         string
	}
	var mu sync.Mutex
	marks := map[string]*mark{}
	done := make(chan string, warm+1)
	observe := func(a linkflow.Attempt, ev linkflow.Event) {
		mu.Lock()
		defer mu.Unlock()
		m := marks[a.ID]
		if m == nil {
			m = &mark{}
			marks[a.ID] = m
		}
		switch {
		case a.State == linkflow.LinkOpen && m.open.IsZero():
			m.open = time.Now()
			m.polls = a.Polls
			if p, ok := ev.Data["polls"].(int); ok {
				m.polls = p // every poll made, failed ones included
			}
			done <- a.ID
		case a.State == linkflow.Failed || a.State == linkflow.Exited:
			m.err = a.Error
			done <- a.ID
		}
	}
	flow := linkflow.New(client, linkflow.Settings{
		Language: cfg.Language, LinkCustomizationName: cfg.LinkCustomizationName, Asset: cfg.Asset,
		PollInitial: cfg.PollInitial, PollMax: cfg.PollMax,
		WorkflowTimeout: cfg.WorkflowTimeout, AccountTimeout: cfg.AccountTimeout,
	}, slog.New(slog.DiscardHandler), observe)
	defer flow.Close()

	start := func(i int) (string, error) {
		cust := custs.Objects[i%len(custs.Objects)].GUID
		t := time.Now()
		a, err := flow.StartLink(cust)
		if err != nil {
			return "", err
		}
		mu.Lock()
		if marks[a.ID] == nil {
			marks[a.ID] = &mark{}
		}
		marks[a.ID].start = t
		mu.Unlock()
		return a.ID, nil
	}
	collect := func(ids []string) ([]linkRun, error) {
		deadline := time.After(delay + cfg.WorkflowTimeout)
		for range ids {
			select {
			case <-done:
			case <-deadline:
				return nil, fmt.Errorf("link-token workflows did not finish within %s", delay+cfg.WorkflowTimeout)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		mu.Lock()
		defer mu.Unlock()
		var out []linkRun
		for _, id := range ids {
			m := marks[id]
			if m.err != "" {
				return nil, fmt.Errorf("a link-token workflow failed: %s", m.err)
			}
			out = append(out, linkRun{Overhead: m.open.Sub(m.start) - delay, Polls: m.polls})
		}
		return out, nil
	}

	id, err := start(0)
	if err != nil {
		return res, err
	}
	cold, err := collect([]string{id})
	if err != nil {
		return res, err
	}
	res.Cold = cold[0]
	var ids []string
	for i := 0; i < warm; i++ {
		if i > 0 {
			time.Sleep(stagger)
		}
		id, err := start(i + 1)
		if err != nil {
			return res, err
		}
		ids = append(ids, id)
	}
	if res.Warm, err = collect(ids); err != nil {
		return res, err
	}
	res.Total = time.Since(began)

	// Mixed calls, 8 at a time, on the same client.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make(chan error, extraCalls)
	for i := 0; i < extraCalls; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			cust := custs.Objects[i%len(custs.Objects)].GUID
			var err error
			switch i % 3 {
			case 0:
				_, err = client.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 10})
			case 1:
				_, err = client.GetCustomer(ctx, cust, false)
			case 2:
				_, err = client.ListExternalBankAccounts(ctx, cybrid.ListExternalBankAccountsParams{CustomerGUID: cust})
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, fmt.Errorf("mixed API calls: %w", err)
	}
	res.TokenSpan = time.Since(firstCall)
	after := s.Cybrid.Stats()
	res.APICalls = after.APIRequests - before.APIRequests
	res.TokenRequests = after.TokenRequests - before.TokenRequests
	info, err := client.Token(ctx)
	if err != nil {
		return res, err
	}
	res.TokenLifetime = info.Expiry.Sub(info.ObtainedAt).Round(time.Second)
	return res, nil
}

func medianDur(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
