package session

import (
	"linkdesk/app/config"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
)

// keptShelf is an environment's shelf of prepared link tokens and the client
// secret it was filled with.
type keptShelf struct {
	shelf  *linkflow.Shelf
	secret string
}

// shelfFor returns env's shelf of prepared link tokens, kept across
// switches like its timeline (the caller holds switchMu), or nil when
// prefetching is off (LINKDESK_PREFETCH=false). Other credentials start a
// new shelf: tokens never cross environments, nor credentials.
func (s *Session) shelfFor(env config.Environment, secret string) *linkflow.Shelf {
	if !s.base.Prefetch {
		return nil
	}
	if s.shelves == nil {
		s.shelves = map[config.Environment]*keptShelf{}
	}
	k := s.shelves[env]
	if k == nil || k.secret != secret {
		k = &keptShelf{shelf: linkflow.NewShelf(), secret: secret}
		s.shelves[env] = k
	}
	return k.shelf
}

// preparedPusher pushes env's prepared tokens to the page while env is the
// current environment (a closing environment's notes stay in its timeline).
func (s *Session) preparedPusher(env config.Environment) func(linkflow.Prepared) {
	return func(p linkflow.Prepared) {
		if e := s.env.Load(); e != nil && e.Target.Name == env {
			s.push(pageapi.PreparedPush(p))
		}
	}
}
