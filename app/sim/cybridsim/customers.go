package cybridsim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// SeedCustomerCount is how many customers every Server starts with.
const SeedCustomerCount = 25

type customerRec struct {
	seq                  int
	guid, typ, state     string
	createdAt, updatedAt time.Time
	first, middle, last  string
	street, city, sub    string
	postal               string
	dob, email, phone    string
	labels               []string
}

func (c *customerRec) fullName() string {
	if c.middle != "" {
		return c.first + " " + c.middle + " " + c.last
	}
	return c.first + " " + c.last
}

var (
	seedFirst  = []string{"Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Priya", "Mateo", "Chloe", "Omar", "Hana", "Lucas", "Amara", "Diego", "Ines", "Felix", "Sara", "Kenji", "Nora", "Tariq", "Elena", "Jonah", "Leila", "Marcus", "Yuki"}
	seedLast   = []string{"Thompson", "Okafor", "Nguyen", "Garcia", "Kowalski", "Haddad", "Patel", "Rossi", "Lindqvist", "Moreau", "Tanaka", "Silva", "Mensah", "Fischer", "Dubois", "Novak", "Ibrahim", "Sato", "Brennan", "Alvarez", "Kaur", "Walsh", "Petrov", "Jensen", "Castillo"}
	seedMiddle = []string{"", "", "", "J", "", "A", "", "", "R", ""}
	seedStreet = []string{"Maple Ave", "Oak St", "Pine Rd", "Cedar Ln", "Elm St", "Birch Way", "Willow Dr", "Lakeview Blvd", "Harbor St", "Summit Ave"}
	seedCities = []struct{ city, sub, zip string }{
		{"Austin", "TX", "787"}, {"Denver", "CO", "802"}, {"Portland", "OR", "972"}, {"Columbus", "OH", "432"},
		{"Raleigh", "NC", "276"}, {"Madison", "WI", "537"}, {"Tucson", "AZ", "857"}, {"Boise", "ID", "837"},
	}
)

// seedCustomers creates SeedCustomerCount individual customers from a fixed
// seed, so every run has the same GUIDs, names and states. Most are verified;
// customers #3 and #10 are unverified and #6 is frozen (1-based in creation
// order), so the newest customers — the first a list shows — are verified.
func (s *Server) seedCustomers() {
	r := rand.New(rand.NewPCG(0x6c696e6b64657368, 0x6379627269647369)) // "linkdesh", "cybridsi"
	base := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	for i := 0; i < SeedCustomerCount; i++ {
		c := &customerRec{
			seq:   s.nextSeqLocked(),
			guid:  fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()),
			typ:   "individual",
			state: "verified",
			first: seedFirst[i],
			last:  seedLast[(i*7)%len(seedLast)],
		}
		c.middle = seedMiddle[r.IntN(len(seedMiddle))]
		c.createdAt = base.Add(time.Duration(i)*37*time.Hour + time.Duration(r.IntN(3600000))*time.Millisecond)
		c.updatedAt = c.createdAt.Add(time.Duration(r.IntN(72)+1) * time.Hour)
		switch i {
		case 2, 9:
			c.state = "unverified"
		case 5:
			c.state = "frozen"
		}
		loc := seedCities[r.IntN(len(seedCities))]
		c.street = fmt.Sprintf("%d %s", 100+r.IntN(9800), seedStreet[r.IntN(len(seedStreet))])
		c.city, c.sub = loc.city, loc.sub
		c.postal = fmt.Sprintf("%s%02d", loc.zip, r.IntN(100))
		c.dob = fmt.Sprintf("%04d-%02d-%02d", 1950+r.IntN(50), 1+r.IntN(12), 1+r.IntN(28))
		c.email = strings.ToLower(c.first+"."+c.last) + "@example.com"
		c.phone = fmt.Sprintf("+1555%07d", r.IntN(10000000))
		switch i % 6 {
		case 0:
			c.labels = []string{"qa"}
		case 3:
			c.labels = []string{"vip"}
		}
		s.customers = append(s.customers, c)
		s.customerByID[c.guid] = c
	}
}

// customerJSON is Cybrid's Customer schema. PII fields are null unless the
// caller asked for include_pii and holds customers:pii:read.
type customerJSON struct {
	GUID                  string           `json:"guid"`
	BankGUID              string           `json:"bank_guid"`
	Type                  string           `json:"type"`
	CreatedAt             string           `json:"created_at"`
	UpdatedAt             string           `json:"updated_at"`
	State                 string           `json:"state"`
	Name                  *nameJSON        `json:"name"`
	Address               *addressJSON     `json:"address"`
	Aliases               []nameJSON       `json:"aliases"`
	Website               *string          `json:"website"`
	DateOfBirth           *string          `json:"date_of_birth"`
	PhoneNumber           *string          `json:"phone_number"`
	EmailAddress          *string          `json:"email_address"`
	Labels                []string         `json:"labels"`
	ComplianceDecisions   []complianceJSON `json:"compliance_decisions"`
	IdentificationNumbers []idNumberJSON   `json:"identification_numbers"`
	ActivityLimits        []any            `json:"activity_limits"`
}

type nameJSON struct {
	First  *string `json:"first"`
	Middle *string `json:"middle"`
	Last   *string `json:"last"`
	Full   *string `json:"full"`
}

type addressJSON struct {
	Street      *string `json:"street"`
	Street2     *string `json:"street2"`
	City        *string `json:"city"`
	Subdivision *string `json:"subdivision"`
	PostalCode  *string `json:"postal_code"`
	CountryCode *string `json:"country_code"`
}

type complianceJSON struct {
	Type         string   `json:"type"`
	State        string   `json:"state"`
	FailureCodes []string `json:"failure_codes"`
}

type idNumberJSON struct {
	Type                 string `json:"type"`
	IssuingCountryCode   string `json:"issuing_country_code"`
	IdentificationNumber string `json:"identification_number"`
}

func (c *customerRec) json(bankGUID string, pii bool) customerJSON {
	out := customerJSON{
		GUID: c.guid, BankGUID: bankGUID, Type: c.typ, State: c.state,
		CreatedAt: ts(c.createdAt), UpdatedAt: ts(c.updatedAt),
		Labels: c.labels, ComplianceDecisions: []complianceJSON{}, ActivityLimits: []any{},
	}
	if c.state == "verified" || c.state == "frozen" {
		out.ComplianceDecisions = append(out.ComplianceDecisions, complianceJSON{Type: "person_verification", State: "passed"})
	}
	if pii {
		full := c.fullName()
		out.Name = &nameJSON{First: strPtr(c.first), Middle: strPtr(c.middle), Last: strPtr(c.last), Full: &full}
		out.Address = &addressJSON{Street: strPtr(c.street), City: strPtr(c.city), Subdivision: strPtr(c.sub),
			PostalCode: strPtr(c.postal), CountryCode: strPtr("US")}
		out.Aliases = []nameJSON{}
		out.DateOfBirth = strPtr(c.dob)
		out.PhoneNumber = strPtr(c.phone)
		out.EmailAddress = strPtr(c.email)
		out.IdentificationNumbers = []idNumberJSON{{Type: "social_security_number", IssuingCountryCode: "US",
			IdentificationNumber: "***-**-" + c.phone[len(c.phone)-4:]}}
	}
	return out
}

// includePII reads include_pii and checks the customers:pii:read scope.
func includePII(w http.ResponseWriter, r *http.Request, scope string) (pii, ok bool) {
	pii, err := parseBoolParam(r.URL.Query(), "include_pii")
	if err != nil {
		invalidRequest(w, err)
		return false, false
	}
	if pii && !hasScope(r, scope) {
		writeError(w, http.StatusForbidden, "invalid_scopes", "Invalid scopes. Required: "+scope+" (for include_pii=true)")
		return false, false
	}
	return pii, true
}

// listCustomers serves GET /api/customers: page, per_page and the
// comma-separated filters guid, bank_guid, type, label; include_pii. A
// customer token lists only its own customer.
func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, _ pathParams) {
	lp, err := parseList(r.URL.Query(), "guid", "bank_guid", "type", "label")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	pii, ok := includePII(w, r, "customers:pii:read")
	if !ok {
		return
	}
	s.mu.Lock()
	var items []*customerRec
	for _, c := range s.customers {
		if !visible(r, c.guid) || !lp.keep("guid", c.guid) || !lp.keep("bank_guid", s.bankGUID) || !lp.keep("type", c.typ) {
			continue
		}
		if set, ok := lp.filters["label"]; ok {
			match := false
			for _, l := range c.labels {
				match = match || set[l]
			}
			if !match {
				continue
			}
		}
		items = append(items, c)
	}
	pg, total := pageOf(items, lp)
	objs := make([]customerJSON, 0, len(pg))
	for _, c := range pg {
		objs = append(objs, c.json(s.bankGUID, pii))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listEnvelope{Total: total, Page: lp.page, PerPage: lp.perPage, Objects: objs})
}

// getCustomer serves GET /api/customers/{guid}?include_pii=.
func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, p pathParams) {
	pii, ok := includePII(w, r, "customers:pii:read")
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.customerByID[p["guid"]]
	if c != nil && !visible(r, c.guid) {
		c = nil // another customer's: as if it did not exist
	}
	var out customerJSON
	if c != nil {
		out = c.json(s.bankGUID, pii)
	}
	s.mu.Unlock()
	if c == nil {
		writeError(w, http.StatusNotFound, "not_found", "customer not found: "+p["guid"])
		return
	}
	writeJSON(w, http.StatusOK, out)
}
