package cost

import (
	"fmt"
	"strconv"
	"strings"
)

// Prices are unit prices in US dollars.
type Prices struct {
	Name         string
	PutPer1000   float64 // per 1,000 PUT (and COPY, POST, LIST) requests
	GetPer1000   float64 // per 1,000 GET requests
	StorageGBMon float64 // per GB stored for a month
}

// Presets are list prices of us-east-1 (AWS's published prices as of
// 2025); request-size charges of S3 Express One Zone are left out.
var Presets = map[string]Prices{
	"s3-standard":         {Name: "s3-standard", PutPer1000: 0.005, GetPer1000: 0.0004, StorageGBMon: 0.023},
	"s3-express-one-zone": {Name: "s3-express-one-zone", PutPer1000: 0.00113, GetPer1000: 0.00003, StorageGBMon: 0.11},
}

// ParsePrices reads -cost.prices: a preset name (s3-standard,
// s3-express-one-zone), or put=,get=,storage= with dollars per 1,000 PUTs,
// per 1,000 GETs and per GB-month, e.g. "put=0.005,get=0.0004,storage=0.023".
func ParsePrices(s string) (Prices, error) {
	if p, ok := Presets[s]; ok {
		return p, nil
	}
	p := Prices{Name: "custom"}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || f < 0 {
			return Prices{}, fmt.Errorf("cost.prices: %q: want a preset (s3-standard, s3-express-one-zone) or put=,get=,storage= in dollars", s)
		}
		switch k {
		case "put":
			p.PutPer1000 = f
		case "get":
			p.GetPer1000 = f
		case "storage":
			p.StorageGBMon = f
		default:
			return Prices{}, fmt.Errorf("cost.prices: unknown price %q: want put, get or storage", k)
		}
		seen[k] = true
	}
	if len(seen) != 3 {
		return Prices{}, fmt.Errorf("cost.prices: %q: give put, get and storage", s)
	}
	return p, nil
}

// Month is the month of the prices: 30 days.
const hoursPerMonth = 30 * 24

// Daily is the cost of a day at these rates: puts and gets per second,
// and bytes stored.
func (p Prices) Daily(putsPerSec, getsPerSec, storedBytes float64) (requests, storage float64) {
	requests = (putsPerSec*p.PutPer1000 + getsPerSec*p.GetPer1000) / 1000 * 86400
	storage = storedBytes / 1e9 * p.StorageGBMon * 24 / hoursPerMonth
	return requests, storage
}
