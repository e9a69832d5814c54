package sim

import (
	"strings"

	"linkdesk/app/config"
)

// ScriptPath is where the simulated Plaid serves Link's script, as Plaid's
// CDN does (PlaidURL + ScriptPath).
const ScriptPath = "/link/v2/stable/link-initialize.js"

// ScriptURL is the simulated Plaid's Link script.
func (s *Sim) ScriptURL() string { return s.PlaidURL + ScriptPath }

// SandboxEnv is the configuration that makes a linkdesk's sandbox this
// simulator, as LINKDESK_* variables: the environment, the bank and
// identity APIs, Plaid's script and the bank. The credentials are not in
// it: they go to the keychain as the sandbox's (ClientID, ClientSecret).
// config.LoadFrom(s.SandboxEnv().Lookup) reads it.
func (s *Sim) SandboxEnv() config.Vars {
	return config.Vars{
		config.VarEnvironment:    string(config.Sandbox),
		config.VarBankAPIURL:     s.BankURL,
		config.VarIdentityAPIURL: s.IdentityURL,
		config.VarPlaidScriptURL: s.ScriptURL(),
		config.VarBankGUID:       s.Cybrid.BankGUID(),
	}
}

// SandboxCommand is SandboxEnv as a shell command that starts linkdesk.
func (s *Sim) SandboxCommand() string {
	env := s.SandboxEnv()
	var b strings.Builder
	for _, name := range []string{config.VarEnvironment, config.VarBankAPIURL, config.VarIdentityAPIURL, config.VarPlaidScriptURL, config.VarBankGUID} {
		b.WriteString(name + "=" + env[name] + " ")
	}
	b.WriteString("linkdesk")
	return b.String()
}
