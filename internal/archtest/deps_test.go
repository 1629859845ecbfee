// Package archtest checks that herald's packages depend on each other only in
// the directions the design allows: cmd → features → internal building
// blocks → migrations, never back.
package archtest

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/herald-sh/herald"

// allowed lists, for each package, the herald packages it may import.
// "*" allows any; internal/storetest is for tests only and never allowed in
// production code (test imports are not checked here).
var allowed = map[string][]string{
	"cmd/herald":         {"*"},
	"importer":           {"internal/store", "internal/phone"},
	"campaigns":          {"internal/store", "internal/whatsapp", "internal/pricing", "internal/throttle", "internal/phone"},
	"scheduler":          {"campaigns", "internal/store", "internal/whatsapp"},
	"internal/httpapi":   {"campaigns", "importer", "scheduler", "internal/store", "internal/whatsapp", "internal/report", "internal/pricing", "internal/throttle", "internal/phone"},
	"internal/store":     {"migrations"},
	"internal/storetest": {"internal/store"},
	"internal/whatsapp":  {},
	"internal/wasim":     {"internal/whatsapp"},
	"internal/phone":     {},
	"internal/pricing":   {},
	"internal/throttle":  {"internal/store"},
	"internal/report":    {"internal/store", "internal/pricing", "internal/whatsapp", "internal/phone"},
	"internal/archtest":  {},
	"migrations":         {},
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, path := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		rules, ok := allowed[rel]
		if !ok {
			t.Errorf("package %s has no entry in the dependency table", rel)
			continue
		}
		pkg, err := build.Import(path, "", 0)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				if rel == "internal/whatsapp" && strings.Contains(imp, ".") {
					t.Errorf("internal/whatsapp must use the standard library only, imports %s", imp)
				}
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !permitted(rules, dep) {
				t.Errorf("%s must not import %s", rel, dep)
			}
		}
	}
}

func permitted(rules []string, dep string) bool {
	for _, r := range rules {
		if r == "*" || r == dep {
			return true
		}
	}
	return false
}
