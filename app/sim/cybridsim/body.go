package cybridsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"
)

// missingParams is a request error naming required fields that are absent.
type missingParams []string

func (m missingParams) Error() string { return "Missing parameter. Required: " + strings.Join(m, ", ") }

// invalidRequest answers a request whose body or query is malformed: 400
// with message_code missing_parameter when required fields are absent (a
// missingParams error) and invalid_value otherwise — the codes the bank
// spec's examples show for POST /api/workflows ("Missing parameter.
// Required: type") and POST /api/external_bank_accounts ("Invalid value.
// plaid_account_id must be at the most 128 characters long"), and for bad
// list filters. Every endpoint answers this kind of error the same way.
func invalidRequest(w http.ResponseWriter, err error) {
	var m missingParams
	if errors.As(err, &m) {
		writeError(w, http.StatusBadRequest, "missing_parameter", err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, "invalid_value", err.Error())
}

// body is a decoded JSON request object with typed, field-naming accessors.
// JSON null counts as absent (Cybrid's request fields are nullable).
type body map[string]any

// readObject reads the request body as a JSON object.
func readObject(r *http.Request) (body, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, errorf("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errorf("the request body is empty; send a JSON object")
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errorf("the request body is not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errorf("the request body is null; send a JSON object")
	}
	return body(m), nil
}

// str returns field as a string; ok is false when it is absent or null.
func (b body) str(field string) (v string, ok bool, err error) {
	x, present := b[field]
	if !present || x == nil {
		return "", false, nil
	}
	s, isStr := x.(string)
	if !isStr {
		return "", false, errorf("Invalid value. %s must be a string", field)
	}
	return s, true, nil
}

// strings returns field as a list of strings (absent or null: nil).
func (b body) strings(field string) ([]string, error) {
	x, present := b[field]
	if !present || x == nil {
		return nil, nil
	}
	arr, ok := x.([]any)
	if !ok {
		return nil, errorf("Invalid value. %s must be an array of strings", field)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, errorf("Invalid value. %s must be an array of strings", field)
		}
		out = append(out, s)
	}
	return out, nil
}

// checkLen checks a present string's length in characters.
func checkLen(field, v string, minLen, maxLen int) error {
	n := utf8.RuneCountInString(v)
	switch {
	case n < minLen && minLen == maxLen:
		return errorf("Invalid value. %s must be exactly %d characters long", field, minLen)
	case n < minLen:
		return errorf("Invalid value. %s must be at least %d characters long", field, minLen)
	case n > maxLen && minLen == maxLen:
		return errorf("Invalid value. %s must be exactly %d characters long", field, maxLen)
	case n > maxLen:
		return errorf("Invalid value. %s must be at the most %d characters long", field, maxLen)
	}
	return nil
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	q, _ := json.Marshal(allowed)
	return errorf("Invalid value. %s %q is not supported; supported values: %s", field, v, q)
}
