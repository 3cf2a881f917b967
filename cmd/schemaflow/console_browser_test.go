package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/dlq"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
)

// chromium finds Debian's chromium (or Chrome). Without it the browser
// test skips, unless CI is set: there it fails, since .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("skipping the console's browser test: chromium is not installed (apt-get install chromium); CI runs it")
	return ""
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// The console in a real browser: headless Chromium against schemaflow
// dev. It finds shop.orders-value (keyboard search), both quickstart
// pipelines running, and a counter that rises without a reload; opens the
// diff of versions 1 and 2 from the subject page's form and finds the
// fields added and the BACKWARD verdict, as evolution gives them; and
// replays a real poison record — one the sink dead-lettered for a
// duplicate key — once the cause is fixed, and sees it land in
// shop.orders_copy. The page is checked for horizontal overflow at phone
// width. SCHEMAFLOW_UPDATE_SCREENSHOTS=1 rewrites docs/console-*.png.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts schemaflow dev and a browser")
	}
	browser := chromium(t)
	t.Parallel()
	dev := startDev(t, t.TempDir(), "--demo-rate", "0", "--console-write")
	eventually(t, 3*time.Minute, "both pipelines ready", dev.ready)
	consoleURL := strings.TrimSuffix(dev.metrics, "/metrics") + "/console/"
	if got := dev.endpoint(t, "Console:"); got != consoleURL {
		t.Fatalf("dev printed the console at %s, want %s", got, consoleURL)
	}
	regURL, brokers, mongoURI := dev.endpoint(t, "Registry:"), dev.endpoint(t, "Kafka:"), dev.endpoint(t, "MongoDB:")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mc, err := mongo.Connect(ctx, options.Client().ApplyURI(mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(context.Background())
	shop := mc.Database("shop")
	reg, err := registry.NewClient(regURL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Two orders through the quickstart pipelines: the second's coupon
	// makes shop.orders-value version 2.
	for i, doc := range []bson.D{
		{{Key: "_id", Value: "console-a"}, {Key: "status", Value: "new"}, {Key: "total", Value: 1.5}},
		{{Key: "_id", Value: "console-b"}, {Key: "status", Value: "new"}, {Key: "total", Value: 2.5}, {Key: "coupon", Value: "SPRING"}},
	} {
		if _, err := shop.Collection("orders").InsertOne(ctx, doc); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, fmt.Sprintf("shop.orders-value version %d", i+1), func() bool {
			vs, _ := reg.Versions(ctx, "shop.orders-value", false)
			return len(vs) > i
		})
	}
	dev.waitFor(t, "both orders in shop.orders_copy", func(c map[string]int64) bool { return c["orders-to-mongodb"] >= 2 })
	v1, err := reg.Version(ctx, "shop.orders-value", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := reg.Version(ctx, "shop.orders-value", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := evolution.Diff(evolution.Schema{Format: schemas.Avro, Text: []byte(v1.Schema)}, evolution.Schema{Format: schemas.Avro, Text: []byte(v2.Schema)})
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, c := range changes {
		if c.Kind == evolution.ChangeAdded {
			added = append(added, c.Field)
		}
	}
	if len(added) == 0 {
		t.Fatalf("version 2 adds no field to version 1: %v", changes)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	waitJS := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(time.Minute))); err != nil {
			t.Fatalf("%s: waiting for %s: %v", what, js, err)
		}
	}
	screenshots := os.Getenv("SCHEMAFLOW_UPDATE_SCREENSHOTS") != ""
	shoot := func(name string) {
		t.Helper()
		if !screenshots {
			return
		}
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("../../docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/%s", name)
	}
	phoneFits := func(what string) {
		t.Helper()
		do(what+" at phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		waitJS(what+" fits a phone", `document.documentElement.scrollWidth <= window.innerWidth + 1`)
		do(what+" back at 1280px", chromedp.EmulateViewport(1280, 900))
	}

	// Schemas: the subject list, searched from the keyboard ("/" focuses
	// the search; typing filters).
	do("schemas page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.CSS(`li[data-name="shop.orders-value"] a`)))
	do("tab", chromedp.KeyEvent("\t"))
	if got := eval("focus", `document.activeElement.className`); got != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	do("slash", chromedp.KeyEvent("/"))
	if got := eval("focus", `document.activeElement.id`); got != "q" {
		t.Errorf("/ focuses %q, want the search box", got)
	}
	// DevTools delivers the key's character even though the page cancels
	// the key press (browsers do not): clear it, then type.
	eval("clear the search", `document.getElementById('q').value = ''`)
	do("search from the keyboard", chromedp.KeyEvent("value"))
	waitJS("search", `document.querySelector('li[data-name="shop.orders-key"]').hidden && !document.querySelector('li[data-name="shop.orders-value"]').hidden`)

	// Pipelines: both running, a counter that rises without a reload,
	// while the test writes orders.
	do("pipelines page", chromedp.Navigate(consoleURL+"pipelines"))
	waitJS("both pipelines running", `['orders-to-kafka', 'orders-to-mongodb'].every(n => {
		const s = document.querySelector('[data-pipeline="' + n + '"] [data-field="state"]'); return s && s.textContent === 'running' })`)
	before := eval("counter", `window.__noReload = 'yes'; document.querySelector('[data-pipeline="orders-to-mongodb"] [data-field="out"]').textContent`)
	writing, stopWriting := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; writing.Err() == nil; i++ {
			if _, err := shop.Collection("orders").InsertOne(writing, bson.D{{Key: "_id", Value: fmt.Sprintf("console-%d", i)}, {Key: "status", Value: "new"}, {Key: "total", Value: 2.5}}); err != nil && writing.Err() == nil {
				t.Errorf("insert: %v", err)
				return
			}
		}
	}()
	waitJS("the counter to rise live", fmt.Sprintf(`window.__noReload === 'yes' && Number(document.querySelector('[data-pipeline="orders-to-mongodb"] [data-field="out"]').textContent) > %s`, before))
	stopWriting()
	wg.Wait()
	if got := eval("subjects", `document.querySelector('[data-pipeline="orders-to-kafka"] [data-field="subjects"]').textContent`); !strings.Contains(got, "shop.orders-value v") {
		t.Errorf("the source's subjects: %q", got)
	}
	shoot("console-pipelines.png")
	phoneFits("pipelines page")

	// The diff of v1 and v2, opened from the subject page's form: the
	// fields added, and BACKWARD compatible.
	do("subject page", chromedp.Navigate(consoleURL+"schemas/shop.orders-value"), chromedp.WaitVisible(chromedp.CSS(`.diff-form`)),
		chromedp.SetValue(chromedp.CSS(`select[name="from"]`), "1"), chromedp.SetValue(chromedp.CSS(`select[name="to"]`), "2"),
		chromedp.Click(chromedp.CSS(`.diff-form button`)), chromedp.WaitVisible(chromedp.CSS(`#verdicts`)))
	if loc, _ := chromedp.Run(tab, chromedp.Location()); !strings.HasSuffix(loc, "/console/schemas/shop.orders-value/diff?from=1&to=2") {
		t.Errorf("the diff's deep link is %s", loc)
	}
	var shown []string
	if err := json.Unmarshal([]byte(eval("added fields", `JSON.stringify(Array.from(document.querySelectorAll('#changes tr[data-kind="added"]')).map(r => r.dataset.field))`)), &shown); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, added) {
		t.Errorf("the diff shows added fields %v, evolution says %v", shown, added)
	}
	if got := eval("BACKWARD", `(r => r.dataset.compatible + ' ' + r.querySelector('td').textContent)(document.querySelector('#verdicts tr[data-level="BACKWARD"]'))`); got != "true compatible" {
		t.Errorf("the BACKWARD verdict reads %q", got)
	}
	shoot("console-schemas.png")
	phoneFits("diff page")

	// A poison record: a unique index on shop.orders_copy.ref and a
	// document holding there make the sink dead-letter the order
	// carrying the same ref (duplicate key).
	copyColl := shop.Collection("orders_copy")
	if _, err := copyColl.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "ref", Value: 1}},
		Options: options.Index().SetName("ref_unique").SetUnique(true).SetPartialFilterExpression(bson.D{{Key: "ref", Value: bson.D{{Key: "$exists", Value: true}}}})}); err != nil {
		t.Fatal(err)
	}
	if _, err := copyColl.InsertOne(ctx, bson.D{{Key: "_id", Value: "console-blocker"}, {Key: "ref", Value: "R-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := shop.Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: "console-poison"}, {Key: "status", Value: "new"}, {Key: "total", Value: 9.5}, {Key: "ref", Value: "R-1"}}); err != nil {
		t.Fatal(err)
	}
	var poison dlq.Letter
	eventually(t, 2*time.Minute, "the sink to dead-letter the poison record", func() bool {
		letters, _ := dlq.Read(ctx, []kgo.Opt{kgo.SeedBrokers(brokers)}, "shop.orders_copy.dlq", dlq.ReadOptions{}) // absent until the first
		for _, l := range letters {
			if l.Class == "duplicate-key" && strings.Contains(string(l.Key), "console-poison") {
				poison = l
				return true
			}
		}
		return false
	})
	// Fix the cause, then replay from the console.
	if _, err := copyColl.DeleteOne(ctx, bson.D{{Key: "_id", Value: "console-blocker"}}); err != nil {
		t.Fatal(err)
	}
	do("dead letters page", chromedp.Navigate(consoleURL+"dead-letters"), chromedp.Click(chromedp.CSS(`a[href$="/dead-letters/shop.orders_copy.dlq"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`article[data-id="%s"][data-class="duplicate-key"]`, poison.ID()))))
	if got := eval("origin", fmt.Sprintf(`document.querySelector('article[data-id="%s"]').textContent`, poison.ID())); !strings.Contains(got, "shop.orders partition") || !strings.Contains(got, "console-poison") {
		t.Errorf("the dead letter shows %q", got)
	}
	do("replay", chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[value="%s"]`, poison.ID()))), chromedp.Click(chromedp.CSS(`#replay-selected`)))
	waitJS("the replay's result", fmt.Sprintf(`document.querySelector('#replay-status').textContent.includes('replayed %s (duplicate-key) to shop.orders ')`, poison.ID()))
	eval("open the letter", `document.querySelector('article details').open = true; ''`)
	shoot("console-dead-letters.png")
	phoneFits("dead letters page")
	eventually(t, 2*time.Minute, "the replayed order in shop.orders_copy", func() bool {
		var doc bson.M
		err := copyColl.FindOne(ctx, bson.D{{Key: "_id", Value: "console-poison"}}).Decode(&doc)
		return err == nil && doc["ref"] == "R-1"
	})
	dev.term(t)
}
