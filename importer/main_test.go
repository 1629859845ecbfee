package importer

import (
	"testing"

	"github.com/herald-sh/herald/internal/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }
