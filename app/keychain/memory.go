package keychain

import "sync"

// memoryStore is a Store in a map, safe for concurrent use.
type memoryStore struct {
	mu    sync.Mutex
	items map[string]Credentials
}

// NewMemory returns an empty in-memory Store, safe for concurrent use, for
// other packages' unit tests. It validates like the OS store and returns the
// same errors for missing credentials (wrapping ErrNotFound). Nothing is
// persisted.
func NewMemory() Store { return &memoryStore{items: map[string]Credentials{}} }

func (m *memoryStore) Get(env string) (Credentials, error) {
	if err := checkEnv(env); err != nil {
		return Credentials{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.items[env]
	if !ok {
		return Credentials{}, notFound(env)
	}
	return c, nil
}

func (m *memoryStore) Set(env string, c Credentials) error {
	if err := checkEnv(env); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items[env] = c
	return nil
}

func (m *memoryStore) Delete(env string) error {
	if err := checkEnv(env); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.items[env]; !ok {
		return notFound(env)
	}
	delete(m.items, env)
	return nil
}
