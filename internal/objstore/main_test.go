package objstore_test

import (
	"testing"

	"github.com/stratalog/strata/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
