// Package config reads a program's settings from flags, each with an environment variable fallback,
// so that the same binary works from a shell (flags) and from docker compose (environment).
//
// Precedence: flag > environment > default. The flag name is derived from the environment name
// (LISTEN_ADDR → -listen-addr) so a setting has one name to document. Invalid values fail at start with
// one line naming the setting.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Set collects the settings of one program.
type Set struct {
	fs     *flag.FlagSet
	lookup func(string) (string, bool)
	errs   []error
	checks []func() error
	names  []string
}

// New returns an empty Set for the named program.
func New(program string) *Set {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Set{fs: fs, lookup: os.LookupEnv}
}

// WithLookup replaces the environment lookup (tests).
func (s *Set) WithLookup(lookup func(string) (string, bool)) *Set {
	s.lookup = lookup
	return s
}

// FlagSet exposes the underlying flags, for flags without an environment variable (e.g. -healthcheck).
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

// Names lists the environment names of every registered setting, in registration order.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// FlagName is the flag that stands for an environment variable: LISTEN_ADDR → listen-addr.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// Invalid is the error for a setting with a bad value. Its message names the setting.
func Invalid(setting, format string, args ...any) error {
	return &InvalidError{Setting: setting, Reason: fmt.Sprintf(format, args...)}
}

// InvalidError says which setting is wrong and why.
type InvalidError struct {
	Setting string
	Reason  string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid setting %s: %s", e.Setting, e.Reason)
}

// parsed registers a setting whose text is turned into a value by parse. The environment value (when
// set) becomes the flag's starting value, so a flag given on the command line still wins.
func (s *Set) parsed(env, usage, def string, set func(string) error) {
	s.names = append(s.names, env)
	if v, ok := s.lookup(env); ok {
		if err := set(v); err != nil {
			s.errs = append(s.errs, Invalid(env, "%q: %v", v, err))
		}
	} else if err := set(def); err != nil {
		panic(fmt.Sprintf("config: default of %s: %v", env, err)) // a programming error
	}
	s.fs.Func(FlagName(env), fmt.Sprintf("%s (env %s, default %q)", usage, env, def), func(v string) error {
		if err := set(v); err != nil {
			return Invalid(env, "%q: %v", v, err)
		}
		return nil
	})
}

// String registers a text setting.
func (s *Set) String(p *string, env, def, usage string) {
	s.parsed(env, usage, def, func(v string) error { *p = v; return nil })
}

// Int registers an integer setting.
func (s *Set) Int(p *int, env string, def int, usage string) {
	s.parsed(env, usage, strconv.Itoa(def), func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not an integer")
		}
		*p = n
		return nil
	})
}

// Float registers a decimal setting.
func (s *Set) Float(p *float64, env string, def float64, usage string) {
	s.parsed(env, usage, strconv.FormatFloat(def, 'g', -1, 64), func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return errors.New("not a number")
		}
		*p = f
		return nil
	})
}

// Bool registers a boolean setting (true/false/1/0).
func (s *Set) Bool(p *bool, env string, def bool, usage string) {
	s.parsed(env, usage, strconv.FormatBool(def), func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not true or false")
		}
		*p = b
		return nil
	})
}

// Duration registers a duration setting ("90s", "24h"; a bare "0" is zero).
func (s *Set) Duration(p *time.Duration, env string, def time.Duration, usage string) {
	s.parsed(env, usage, def.String(), func(v string) error {
		v = strings.TrimSpace(v)
		if v == "0" {
			*p = 0
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("not a duration like 90s or 24h")
		}
		if d < 0 {
			return errors.New("must not be negative")
		}
		*p = d
		return nil
	})
}

// List registers a comma-separated list; blanks are dropped.
func (s *Set) List(p *[]string, env string, def []string, usage string) {
	s.parsed(env, usage, strings.Join(def, ","), func(v string) error {
		*p = SplitList(v)
		return nil
	})
}

// SplitList splits a comma-separated list, trimming spaces and dropping empty items.
func SplitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Check adds a validation that runs after parsing. Return Invalid(...) to name the setting.
func (s *Set) Check(fn func() error) { s.checks = append(s.checks, fn) }

// Parse reads the command line over the environment and runs the checks. The error names the first
// bad setting.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	for _, check := range s.checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// Usage writes every flag with its environment variable and default.
func (s *Set) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s (every flag also reads the environment variable named in it):\n", s.fs.Name())
	s.fs.SetOutput(w)
	s.fs.PrintDefaults()
	s.fs.SetOutput(io.Discard)
}
