package journal

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"linkdesk/app/linkflow"
)

// FuzzScanBrief holds the first pass's fast path to encoding/json: when
// scanBrief accepts a line, the line is valid JSON and json.Unmarshal
// decodes exactly the same brief from it.
func FuzzScanBrief(f *testing.F) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 123, time.UTC)
	dismissed := now.Add(time.Hour)
	for _, e := range []Entry{
		{ID: "00000000000000a1", Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), State: linkflow.WaitingForAccount,
			StartedAt: now, UpdatedAt: now, WorkflowGUID: strings.Repeat("f", 32), AccountGUID: strings.Repeat("a", 32),
			Institution: "Banque Populaire — Côte d'Azur \"x\"", PlaidAccountName: "Plaid Checking"},
		{ID: "00000000000000b2", State: linkflow.LinkOpen, StartedAt: now, UpdatedAt: now,
			Recovered:   &Recovered{AttemptID: "00000000000000b2", Outcome: OutcomeLinked, AccountGUID: strings.Repeat("b", 32), CheckedAt: now, Candidates: []string{"x"}},
			DismissedAt: &dismissed},
	} {
		b, _ := json.Marshal(line{V: Version, Entry: e})
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `{"v":1}`, ` {"v":1 , "id" : "0000000000000001" } `, `{"v":2,"id":"x"}`, `{"v":1.0}`, `{"v":01}`, `{"v":-0}`,
		`{"V":1}`, `{"ID":"0000000000000001"}`, `{"\u0069d":"0000000000000001"}`, `{"id":"000000000000000\u0031"}`,
		`{"id":"a","id":"b"}`, `{"recovered":{"outcome":"linked","Outcome":"gone"}}`, `{"recovered":null,"dismissed_at":null}`,
		`{"recovered":{"a":[1,2,{"b":[true,false,null,-1.5e+3]}]}}`, `{"x":"\ud800"}`, "{\"x\":\"\xff\"}", `{"id":5}`, `{"id":null}`,
		`{"state":"done"`, `{"state":"done"}x`, `[1]`, `"s"`, `{"a":1,}`, `{"a":.5}`, `{"a":1e}`, `{"a":"\x"}`, "{\"a\":\"\t\"}",
		`{"ſtate":"done"}`, `{"accoKnt_guid":"x"}`, `{"v":1234567890}`, `{"dismissed_at":5}`, `{"recovered":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, ok := scanBrief(b)
		if !ok {
			return
		}
		got := raw.brief()
		if !json.Valid(b) {
			t.Fatalf("scanBrief accepted invalid JSON %q", b)
		}
		var want brief
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("scanBrief accepted %q, which json.Unmarshal refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanBrief(%q) = %+v\njson.Unmarshal gives %+v", b, got, want)
		}
	})
}

// The fast path takes every line linkdesk writes (it would be no faster
// if it fell back for them).
func TestScanBriefTakesWhatLinkdeskWrites(t *testing.T) {
	now := time.Now()
	e := Entry{ID: "00000000000000a1", Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), State: linkflow.WaitingForAccount,
		StartedAt: now, UpdatedAt: now, AccountRequestedAt: now, WorkflowGUID: strings.Repeat("f", 32), AccountGUID: strings.Repeat("a", 32),
		Institution: "Crédit Agricole", PlaidAccountName: "Plaid Checking", PlaidAccountMask: "0000",
		Recovered: &Recovered{AttemptID: "00000000000000a1", Outcome: OutcomeStoring, Message: "é \"quoted\"", CheckedAt: now, Candidates: []string{"a", "b"}}}
	b, _ := json.Marshal(line{V: Version, Entry: e})
	raw, ok := scanBrief(b)
	got := raw.brief()
	if !ok || got.ID != e.ID || got.Recovered == nil || got.Recovered.Outcome != OutcomeStoring || got.AccountGUID != e.AccountGUID {
		t.Fatalf("scanBrief(%s) = %+v, %v", b, got, ok)
	}
}

// brief is r as encoding/json would decode it.
func (r rawBrief) brief() brief {
	b := brief{V: r.V, ID: string(r.ID), State: linkflow.State(r.State), StartedAt: string(r.StartedAt), UpdatedAt: string(r.UpdatedAt),
		WorkflowGUID: string(r.WorkflowGUID), AccountGUID: string(r.Account)}
	if r.Recovered {
		b.Recovered = &briefRecovered{Outcome: Outcome(r.Outcome), AccountGUID: string(r.RecoveredAccount), CheckedAt: string(r.CheckedAt)}
	}
	if r.Dismissed {
		d := string(r.DismissedAt)
		b.DismissedAt = &d
	}
	return b
}

// FuzzFastTime holds fastTime to time.Parse: what it reads, time.Parse
// reads as the same instant.
func FuzzFastTime(f *testing.F) {
	for _, s := range []string{"2026-03-02T10:00:00Z", "2026-03-02T10:00:00.123456789Z", "2026-03-02T10:00:00.1+02:00",
		"0001-01-01T00:00:00Z", "2024-02-29T23:59:59-07:30", "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-02T24:00:00Z",
		"2026-03-02T10:00:00.1234567891Z", "2026-03-02t10:00:00z", "2026-03-02T10:00:00+24:00", "2026-03-02T10:00:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastTime([]byte(s))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("fastTime read %q, which time.Parse refuses: %v", s, err)
		}
		if !got.Equal(want) {
			t.Fatalf("fastTime(%q) = %v, time.Parse gives %v", s, got, want)
		}
	})
}
