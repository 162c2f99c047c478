package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// poolSize is how many distinct values a producer cycles through: enough
// that a batch never repeats a value, few enough to build at once.
const poolSize = 1024

// Payloads returns poolSize distinct values of exactly size bytes. JSON
// values are web-analytics events with realistic repetition across records
// (field names, enumerations, user agents) and per-record entropy (ids,
// timestamps, counters), so that a batch of them compresses the way event
// streams do (about 4:1 with zstd); random values do not compress at all.
func Payloads(kind string, size int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([][]byte, poolSize)
	for i := range out {
		switch kind {
		case PayloadRandom:
			b := make([]byte, size)
			for j := 0; j < size; j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8 && j+k < size; k++ {
					b[j+k] = byte(v >> (8 * k))
				}
			}
			out[i] = b
		default:
			out[i] = jsonEvent(rng, size, i)
		}
	}
	return out
}

var (
	eventTypes = []string{"page_view", "click", "add_to_cart", "checkout", "search", "login", "scroll", "video_play"}
	paths      = []string{"/", "/products", "/products/shoes", "/products/shirts", "/cart", "/checkout", "/account", "/search", "/blog/how-to-choose", "/help/returns"}
	countries  = []string{"US", "DE", "FR", "GB", "BR", "IN", "JP", "CA", "NL", "ES"}
	devices    = []string{"desktop", "mobile", "tablet"}
	agents     = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	}
	words = []string{"red", "blue", "running", "leather", "cotton", "summer", "sale", "organic", "wireless", "classic", "slim", "waterproof"}
)

func jsonEvent(rng *rand.Rand, size, seq int) []byte {
	var b bytes.Buffer
	b.Grow(size + 64)
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	fmt.Fprintf(&b, `{"event_id":"%016x%016x","ts":%d,"type":%q,"user_id":"u-%06d","session_id":"s-%08x",`,
		rng.Uint64(), rng.Uint64(), 1767225600000+int64(seq)*37+int64(rng.IntN(1000)), pick(eventTypes),
		rng.IntN(200000), rng.Uint32())
	fmt.Fprintf(&b, `"page":{"path":%q,"referrer":%q,"title":"Shop - %s %s"},`,
		pick(paths), pick(paths), pick(words), pick(words))
	fmt.Fprintf(&b, `"device":{"type":%q,"user_agent":%q,"screen":"%dx%d"},"geo":{"country":%q,"city_id":%d},`,
		pick(devices), pick(agents), 360+rng.IntN(3)*640, 640+rng.IntN(3)*360, pick(countries), rng.IntN(5000))
	b.WriteString(`"props":{`)
	const tail = len(`},"pad":""}`)
	for n := 0; ; n++ {
		var e string
		switch n % 4 {
		case 0:
			e = fmt.Sprintf(`"item_%d":{"sku":"SKU-%05d","qty":%d,"price":%d.%02d}`, n, rng.IntN(30000), 1+rng.IntN(4), 5+rng.IntN(200), rng.IntN(100))
		case 1:
			e = fmt.Sprintf(`"tag_%d":%q`, n, pick(words)+"-"+pick(words))
		case 2:
			e = fmt.Sprintf(`"experiment_%d":{"id":"exp-%03d","variant":%q}`, n, rng.IntN(40), pick([]string{"control", "a", "b"}))
		default:
			e = fmt.Sprintf(`"metric_%d":%s`, n, strconv.FormatFloat(rng.Float64()*1000, 'f', 3, 64))
		}
		if n > 0 {
			e = "," + e
		}
		if b.Len()+len(e)+tail > size {
			break
		}
		b.WriteString(e)
	}
	b.WriteString(`},"pad":"`)
	for b.Len() < size-2 {
		b.WriteByte(' ')
	}
	b.WriteString(`"}`)
	out := b.Bytes()
	if len(out) > size {
		// The fixed fields alone are longer than size: keep a valid
		// prefix of the right length (no longer JSON, still realistic bytes).
		out = out[:size]
	}
	return out
}
