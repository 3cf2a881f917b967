package runcmd

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/console"
	"github.com/schemaflow/schemaflow/processor/daemon"
	"github.com/schemaflow/schemaflow/processor/kafkaopt"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/registry"
)

// registryClient is the client of a pipeline's registry block.
func registryClient(f *spec.File, r spec.Registry) (*registry.Client, error) {
	opts := registry.ClientOptions{Username: r.Username, Password: r.Password, BearerToken: r.Token}
	if r.TLS != nil {
		cfg, err := kafkaopt.TLSConfig(r.TLS, f.Resolve)
		if err != nil {
			return nil, fmt.Errorf("registry.tls: %w", err)
		}
		opts.TLS = cfg
	}
	return registry.NewClient(r.URL, opts)
}

// sourceTopics are the topics a source writes that are known up front:
// its topic, its topic map's, or the one its collection is named after.
func sourceTopics(p spec.Pipeline) []string {
	s := p.Source
	wrap := func(name string) string {
		if s.TopicPrefix != "" {
			name = s.TopicPrefix + "." + name
		}
		if s.TopicSuffix != "" {
			name += "." + s.TopicSuffix
		}
		return name
	}
	switch {
	case s.Topic != "":
		return []string{s.Topic}
	case len(s.TopicMap) > 0:
		var out []string
		for _, t := range s.TopicMap {
			out = append(out, wrap(t))
		}
		slices.Sort(out)
		return out
	case p.MongoDB.Database != "" && p.MongoDB.Collection != "":
		return []string{wrap(p.MongoDB.Database + "." + p.MongoDB.Collection)}
	}
	return nil
}

// newConsole builds the web console of a daemon: the schema pages read
// the registry of the first pipeline that names one (and ask for its
// basic-auth user and password, if it has them), the pipeline pages read
// d's status, the dead-letter pages the pipelines' dead-letter topics.
// It returns nil when no pipeline names a registry.
func newConsole(specs []*spec.File, d *daemon.Daemon, write bool, done <-chan struct{}, log *slog.Logger) (*console.Console, error) {
	opts := console.Options{Status: d.Status, Write: write, Done: done, Logger: log}
	clients := map[string]*registry.Client{}
	for _, f := range specs {
		for i := range f.Pipelines {
			p := f.Effective(i)
			var reg *registry.Client
			if p.Registry.URL != "" {
				key := fmt.Sprint(p.Registry.URL, p.Registry.Username, p.Registry.Password, p.Registry.Token)
				if reg = clients[key]; reg == nil {
					c, err := registryClient(f, p.Registry)
					if err != nil {
						return nil, fmt.Errorf("console: %s: %w", f.Line(i), err)
					}
					reg, clients[key] = c, c
				}
				if opts.Registry == nil {
					opts.Registry = reg
					if p.Registry.Username != "" {
						opts.Auth = console.BasicAuth(p.Registry.Username, p.Registry.Password)
					}
				}
			}
			cp := console.Pipeline{Name: p.Name, DeadLetterTopic: p.Errors.DeadLetterTopic}
			if p.Source != nil {
				cp.Topics = sourceTopics(p)
				if p.Source.SubjectStrategy == "record" && p.Source.Namespace != "" {
					cp.SubjectPrefixes = []string{p.Source.Namespace + "."}
				}
			} else if p.Sink != nil {
				cp.Topics = p.Sink.Topics
			}
			opts.Pipelines = append(opts.Pipelines, cp)
			if t := p.Errors.DeadLetterTopic; t != "" {
				kopts, err := kafkaopt.Options(p.Kafka, f.Resolve)
				if err != nil {
					return nil, fmt.Errorf("console: %s: kafka: %w", f.Line(i), err)
				}
				dt := console.DeadLetterTopic{Topic: t, Pipeline: p.Name, Kafka: append([]kgo.Opt{kgo.SeedBrokers(p.Kafka.Brokers...)}, kopts...)}
				if reg != nil {
					dt.Registry = reg
				}
				opts.DeadLetters = append(opts.DeadLetters, dt)
			}
		}
	}
	if opts.Registry == nil {
		return nil, nil
	}
	return console.New(opts)
}

// withConsole serves the console under /console/ beside h, when the
// specs name a registry.
func withConsole(h http.Handler, specs []*spec.File, d *daemon.Daemon, o DaemonOptions, done <-chan struct{}) (http.Handler, bool, error) {
	c, err := newConsole(specs, d, o.ConsoleWrite, done, o.Logger)
	if err != nil {
		return h, false, err
	}
	if c == nil {
		o.Logger.Info("web console off: no pipeline names a registry")
		return h, false, nil
	}
	return c.Mount(h), true, nil
}
