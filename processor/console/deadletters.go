package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/dlq"
)

func (c *Console) deadLetterRoutes() {
	c.mux.HandleFunc("GET "+Path+"dead-letters", c.topicsPage)
	c.mux.HandleFunc("GET "+Path+"dead-letters/{topic}", c.lettersPage)
	c.mux.HandleFunc("GET "+Path+"api/dead-letters", c.topicsAPI)
	c.mux.HandleFunc("GET "+Path+"api/dead-letters/{topic}", c.lettersAPI)
	c.mux.HandleFunc("POST "+Path+"api/dead-letters/{topic}/replay", c.replayAPI)
}

type topicView struct {
	Topic    string `json:"topic"`
	Pipeline string `json:"pipeline"`
}

type topicsView struct {
	Topics []topicView `json:"topics"`
}

func (c *Console) topicsData() topicsView {
	v := topicsView{Topics: []topicView{}}
	for _, t := range c.opts.DeadLetters {
		v.Topics = append(v.Topics, topicView{Topic: t.Topic, Pipeline: t.Pipeline})
	}
	return v
}

func (c *Console) topicsPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "topics.html", "Dead letters", "dead-letters", c.topicsData())
}

func (c *Console) topicsAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.topicsData())
}

// letterView is a dead letter as the page and its JSON show it.
type letterView struct {
	dlq.Letter
	ID         string       `json:"id"`
	Headers    []headerView `json:"headers"`
	Key        dlq.Shown    `json:"key"`
	Value      dlq.Shown    `json:"value"`
	Replayable bool         `json:"replayable"`
	Why        string       `json:"notReplayable,omitempty"`
	Time       string       `json:"-"`
}

type headerView struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// DeadLetter marks the headers the pipeline added.
	DeadLetter bool `json:"deadLetter"`
}

type lettersView struct {
	Topic    string       `json:"topic"`
	Pipeline string       `json:"pipeline"`
	Class    string       `json:"class"`
	Classes  []classCount `json:"classes"`
	Letters  []letterView `json:"letters"`
	Limit    int          `json:"limitPerPartition"`
}

// deadLetterTopic finds a configured dead-letter topic: the console
// reads no other topic.
func (c *Console) deadLetterTopic(name string) (DeadLetterTopic, error) {
	for _, t := range c.opts.DeadLetters {
		if t.Topic == name {
			return t, nil
		}
	}
	return DeadLetterTopic{}, notFound("%q is not the dead-letter topic of any pipeline", name)
}

func (c *Console) lettersData(r *http.Request) (lettersView, error) {
	t, err := c.deadLetterTopic(r.PathValue("topic"))
	if err != nil {
		return lettersView{}, err
	}
	ctx, cancel := c.call(r)
	defer cancel()
	letters, err := dlq.Read(ctx, t.Kafka, t.Topic, dlq.ReadOptions{Limit: c.opts.Limit})
	if errors.Is(err, dlq.ErrNoTopic) {
		letters, err = nil, nil // no dead letter yet
	}
	if err != nil {
		return lettersView{}, err
	}
	class := r.URL.Query().Get("class")
	v := lettersView{Topic: t.Topic, Pipeline: t.Pipeline, Class: class, Letters: []letterView{}, Classes: []classCount{}, Limit: c.opts.Limit}
	counts := map[string]int64{}
	var order []string
	for _, l := range letters {
		if counts[l.Class] == 0 {
			order = append(order, l.Class)
		}
		counts[l.Class]++
	}
	for _, cl := range order {
		v.Classes = append(v.Classes, classCount{cl, counts[cl]})
	}
	dec := decode.New(decode.Options{Registry: t.Registry, PlainJSON: true, Logger: c.log})
	selected := dlq.Filter(letters, class)
	// Newest first.
	for i := len(selected) - 1; i >= 0; i-- {
		l := selected[i]
		lv := letterView{Letter: l, ID: l.ID(), Headers: []headerView{}, Key: dlq.Show(ctx, dec, l.Key), Value: dlq.Show(ctx, dec, l.Value),
			Time: l.Timestamp.UTC().Format(time.RFC3339)}
		for _, h := range l.Headers {
			lv.Headers = append(lv.Headers, headerView{Key: h.Key, Value: string(h.Value), DeadLetter: dlq.IsDeadLetterHeader(h.Key)})
		}
		if err := l.Replayable(); err != nil {
			var nr *dlq.NotReplayableError
			if errors.As(err, &nr) {
				lv.Why = nr.Reason
			}
		} else {
			lv.Replayable = true
		}
		v.Letters = append(v.Letters, lv)
	}
	return v, nil
}

func (c *Console) lettersPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.lettersData(r)
	if err != nil {
		c.renderError(w, r, "dead-letters", err)
		return
	}
	c.render(w, r, "letters.html", v.Topic, "dead-letters", v)
}

func (c *Console) lettersAPI(w http.ResponseWriter, r *http.Request) {
	v, err := c.lettersData(r)
	if err != nil {
		c.renderError(w, r, "dead-letters", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// replayRequest is the body of a replay: the dead letters' ids
// ("PARTITION:OFFSET"), or all of them (of a class, when given).
type replayRequest struct {
	IDs   []string `json:"ids"`
	All   bool     `json:"all"`
	Class string   `json:"class"`
}

// replayResult is one dead letter's replay.
type replayResult struct {
	ID          string `json:"id"`
	Class       string `json:"class"`
	OriginTopic string `json:"originTopic,omitempty"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	Error       string `json:"error,omitempty"`
}

// sameOrigin refuses requests another site's page makes: a replay must
// come from the console's own script (JSON, same origin).
func sameOrigin(r *http.Request) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return &httpError{http.StatusUnsupportedMediaType, "a replay is a JSON request (Content-Type: application/json)"}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return &httpError{http.StatusForbidden, "cross-site request refused"}
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return &httpError{http.StatusForbidden, fmt.Sprintf("origin %s refused: the console replays only for its own pages", o)}
		}
	}
	return nil
}

func (c *Console) replayAPI(w http.ResponseWriter, r *http.Request) {
	if !c.opts.Write {
		c.renderError(w, r, "dead-letters", &httpError{http.StatusForbidden, "the console is read-only: start schemaflow with --console-write to replay dead letters"})
		return
	}
	if err := sameOrigin(r); err != nil {
		c.renderError(w, r, "dead-letters", err)
		return
	}
	t, err := c.deadLetterTopic(r.PathValue("topic"))
	if err != nil {
		c.renderError(w, r, "dead-letters", err)
		return
	}
	var req replayRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		c.renderError(w, r, "dead-letters", badRequest("replay request: %v", err))
		return
	}
	if !req.All && len(req.IDs) == 0 {
		c.renderError(w, r, "dead-letters", badRequest("replay request: name the dead letters in ids, or set all"))
		return
	}
	want := map[string]bool{}
	for _, id := range req.IDs {
		if _, _, err := dlq.ParseID(id); err != nil {
			c.renderError(w, r, "dead-letters", badRequest("replay request: %v", err))
			return
		}
		want[id] = true
	}
	ctx, cancel := c.call(r)
	defer cancel()
	letters, err := dlq.Read(ctx, t.Kafka, t.Topic, dlq.ReadOptions{Limit: c.opts.Limit})
	if err != nil {
		c.renderError(w, r, "dead-letters", err)
		return
	}
	var selected []dlq.Letter
	for _, l := range dlq.Filter(letters, req.Class) {
		if req.All || want[l.ID()] {
			selected = append(selected, l)
			delete(want, l.ID())
		}
	}
	if len(want) > 0 {
		var missing []string
		for id := range want {
			missing = append(missing, id)
		}
		c.renderError(w, r, "dead-letters", notFound("no dead letters %v in %s (of the newest %d of each partition)", missing, t.Topic, c.opts.Limit))
		return
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), t.Kafka...), kgo.RecordDeliveryTimeout(c.opts.Timeout))...)
	if err != nil {
		c.renderError(w, r, "dead-letters", fmt.Errorf("kafka client: %w", err))
		return
	}
	defer cl.Close()
	out := []replayResult{}
	for _, res := range dlq.Replay(ctx, cl, selected) {
		rr := replayResult{ID: res.Letter.ID(), Class: res.Letter.Class, OriginTopic: res.Letter.OriginTopic, Partition: res.Partition, Offset: res.Offset}
		if res.Err != nil {
			rr.Error = res.Err.Error()
		}
		c.log.Info("console: replayed a dead letter", "topic", t.Topic, "id", rr.ID, "to", rr.OriginTopic, "partition", rr.Partition, "offset", rr.Offset, "err", rr.Error)
		out = append(out, rr)
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": t.Topic, "results": out})
}
