package deploy_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/handler/event"
	"github.com/atlasvpce/registrar/internal/mddoc"
)

// TestDocsReferenceTables keeps the reference pages in step with what ships:
// every template parameter, output, environment variable, alarm, metric,
// outcome and error type is documented where a reader looks for it, and (for
// the tables that list a closed set) nothing is documented that no longer
// exists.
func TestDocsReferenceTables(t *testing.T) {
	t.Parallel()
	central := mustTemplate(t)
	member := mustMemberTemplate(t)
	keys := func(tpl map[string]any, section string) []string {
		m, _ := dig(tpl, section)
		mm, _ := m.(map[string]any)
		var out []string
		for k := range mm {
			out = append(out, k)
		}
		return out
	}
	var alarms []string
	for name, r := range mustResources(t, deployedCentral(t, nil)) {
		if r["Type"] == "AWS::CloudWatch::Alarm" {
			alarms = append(alarms, name)
		}
	}
	env, _ := mustDig(t, functionProps(t), "Environment", "Variables").(map[string]any)
	var envNames []string
	for k := range env {
		envNames = append(envNames, k)
	}
	errorTypes := []string{
		reflect.TypeFor[event.InvalidEventError]().Name(),
		reflect.TypeFor[handler.LookupError]().Name(),
		reflect.TypeFor[handler.CredentialsError]().Name(),
		reflect.TypeFor[handler.AtlasError]().Name(),
		reflect.TypeFor[handler.RegistrationFailedError]().Name(),
		reflect.TypeFor[handler.ServiceConflictError]().Name(),
		reflect.TypeFor[handler.EndpointServiceRemovedError]().Name(),
		reflect.TypeFor[handler.DeregistrationError]().Name(),
		reflect.TypeFor[handler.ReconcileError]().Name(),
		reflect.TypeFor[handler.DeadlineError]().Name(),
		reflect.TypeFor[handler.ConfigError]().Name(), // an AWS setting the SDK refuses, on first use
	}
	outcomes := []string{
		handler.OutcomeRegistered, handler.OutcomeAlreadyRegistered, handler.OutcomeIgnored,
		handler.OutcomeProcessed, handler.OutcomeDeregistered, handler.OutcomeNotRegistered,
		handler.OutcomeKept, handler.OutcomeFailed, handler.OutcomeReconciled,
		handler.OutcomeReRegistered, handler.OutcomePending, handler.OutcomeOrphan,
		handler.OutcomeWouldRegister, handler.OutcomeWouldReRegister, handler.OutcomeWouldDeregister,
	}

	tests := []struct {
		name, page, anchor string
		want               []string
		// tableOnly: the names must be rows of the section's tables, and
		// every row must name one of them. Otherwise each name must appear
		// in backticks anywhere in the section.
		tableOnly bool
	}{
		{"template parameters", "../docs/deploying.md", "template-parameters",
			slices.Concat(keys(central, "Parameters"), keys(member, "Parameters")), true},
		{"outputs", "../docs/deploying.md", "outputs",
			slices.Concat(keys(central, "Outputs"), keys(member, "Outputs")), false},
		{"environment variables", "../docs/configuration.md", "environment-variables", envNames, false},
		{"alarms", "../docs/operating.md", "alarms", alarms, true},
		{"metrics", "../docs/operating.md", "metrics", handler.MetricNames(), true},
		{"outcomes", "../docs/operating.md", "outcomes", outcomes, false},
		{"error types", "../docs/operating.md", "errors", errorTypes, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if len(tt.want) == 0 {
				t.Fatalf("found no %s to look for", tt.name)
			}
			sec, err := mddoc.Section(tt.page, tt.anchor)
			if err != nil {
				t.Fatal(err)
			}
			documented := mddoc.TableNames(sec)
			if !tt.tableOnly {
				documented = mddoc.CodeSpans(sec)
			}
			for _, w := range tt.want {
				if !slices.Contains(documented, w) {
					t.Errorf("%s#%s does not document %s %q; add it", tt.page, tt.anchor, tt.name, w)
				}
			}
			if tt.tableOnly {
				for _, d := range documented {
					if !slices.Contains(tt.want, d) {
						t.Errorf("%s#%s documents %q, which is not one of the %s that exist; remove or rename the row", tt.page, tt.anchor, d, tt.name)
					}
				}
			}
		})
	}
}
