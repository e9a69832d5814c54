package cybridsim

import "net/http"

// assetJSON is the bank spec's Asset schema.
type assetJSON struct {
	Type     string `json:"type"`
	Code     string `json:"code"`
	Name     string `json:"name"`
	Symbol   string `json:"symbol"`
	Decimals int    `json:"decimals"`
}

// platformAssets are the assets GET /api/assets lists, fiat first (the order
// of the samples in Cybrid's web SDK). Only USD can be an external bank
// account's asset at the simulated bank.
var platformAssets = []assetJSON{
	{Type: "fiat", Code: "CAD", Name: "Canadian Dollar", Symbol: "$", Decimals: 2},
	{Type: "fiat", Code: "USD", Name: "United States Dollar", Symbol: "$", Decimals: 2},
	{Type: "crypto", Code: "BTC", Name: "Bitcoin", Symbol: "₿", Decimals: 8},
	{Type: "crypto", Code: "ETH", Name: "Ethereum", Symbol: "Ξ", Decimals: 18},
	{Type: "crypto", Code: "USDC", Name: "USD Coin", Symbol: "$", Decimals: 6},
}

// listAssets serves GET /api/assets: the platform's assets, paged (page,
// per_page) and filtered by code (comma-separated). It is public, as in the
// bank spec (no security): no token is needed, and one that is sent is not
// looked at. Cybrid's web SDK reads it, without Authorization, before it
// renders anything. The spec documents only 200; a bad page or per_page
// answers 400 invalid_value as on every list.
func (s *Server) listAssets(w http.ResponseWriter, r *http.Request, _ pathParams) {
	lp, err := parseList(r.URL.Query(), "code")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	var items []assetJSON
	for _, a := range platformAssets {
		if lp.keep("code", a.Code) {
			items = append(items, a)
		}
	}
	total := len(items)
	start, end := lp.bounds(total)
	objs := append([]assetJSON{}, items[start:end]...)
	writeJSON(w, http.StatusOK, listEnvelope{Total: total, Page: lp.page, PerPage: lp.perPage, Objects: objs})
}
