package model

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"sluice/constant"
)

// ChannelView is a channel as the relay uses it: credential decrypted,
// mapping and headers parsed. It is immutable once published, but for
// being switched off (SwitchOff).
type ChannelView struct {
	ID           int
	Type         int
	Name         string
	BaseURL      string
	Key          string
	ModelMapping map[string]string
	Headers      map[string]string
	Priority     int64
	Weight       uint
	Status       int
	AutoBan      bool
	Group        string
	Models       []string
	Tag          string
	// ParamOverride is a JSON object merged into every upstream body (the
	// channel's param_override), nil when unset.
	ParamOverride []byte
	Settings      ChannelSettings

	// off is set when this instance switches the channel off, so that
	// selection skips it at once: the routing table is rebuilt from SQL
	// only after the new status is written, and meanwhile requests were
	// still sent to a channel the admin API already showed as disabled.
	// The next rebuild's views start without it and follow SQL.
	off atomic.Bool
}

// SwitchOff keeps ch out of channel selection from now on, ahead of the
// rebuild that will leave it out for its new status. SwitchOn undoes it
// (the status could not be written).
func (ch *ChannelView) SwitchOff() { ch.off.Store(true) }

// SwitchOn undoes SwitchOff.
func (ch *ChannelView) SwitchOn() { ch.off.Store(false) }

// Serving reports whether ch takes requests: enabled, and not switched off
// since. A key pinned to a channel asks this; selection skips the others.
func (ch *ChannelView) Serving() bool {
	return ch.Status == constant.ChannelStatusEnabled && !ch.off.Load()
}

// ChannelSettings are the provider options kept in a channel's setting
// JSON object.
type ChannelSettings struct {
	// APIVersion is Azure OpenAI's api-version query parameter.
	APIVersion string `json:"api_version,omitempty"`
	// Region is the AWS Bedrock or Vertex AI region.
	Region string `json:"region,omitempty"`
	// Proxy is an http(s) or socks5 proxy URL the channel's calls go through.
	Proxy string `json:"proxy,omitempty"`
}

// MapModel returns the upstream model name for a client's model.
func (v *ChannelView) MapModel(model string) string {
	if m, ok := v.ModelMapping[model]; ok && m != "" {
		return m
	}
	return model
}

type tier struct {
	priority int64
	channels []*ChannelView
}

// channelIndex is one immutable generation of the routing table.
type channelIndex struct {
	byID     map[int]*ChannelView
	routes   map[string]map[string][]tier // group → model → tiers, highest priority first
	byGroup  map[string][]string          // group → sorted model names with an enabled channel
	allModel []string
	// groupsOf lists, per model, the groups with an enabled channel for it.
	groupsOf map[string][]string
	// known holds every group/model pair some channel lists, enabled or
	// not, so a request for a served-but-disabled model gets 503 and one
	// for a model nobody serves gets 404.
	known map[string]map[string]bool
}

// ErrNoChannel means no enabled channel serves the model for the group.
var ErrNoChannel = errors.New("no enabled channel serves this model")

// ErrChannelsExhausted means every candidate was already tried.
var ErrChannelsExhausted = errors.New("every channel for this model has been tried")

// ChannelByID returns an enabled-or-not cached channel (for the admin pin).
func (c *Cache) ChannelByID(id int) *ChannelView {
	return c.chans.Load().byID[id]
}

// HasModel reports whether any enabled channel serves model for group.
func (c *Cache) HasModel(group, model string) bool {
	return len(c.chans.Load().routes[group][model]) > 0
}

// ModelKnown reports whether any channel, enabled or not, lists model for group.
func (c *Cache) ModelKnown(group, model string) bool {
	return c.chans.Load().known[group][model]
}

// ModelsForGroup lists the models that enabled channels serve for a group.
func (c *Cache) ModelsForGroup(group string) []string {
	return c.chans.Load().byGroup[group]
}

// SelectChannel picks a channel for group and model: the highest priority
// tier that still has a candidate not in exclude, weighted random inside
// it. Weight 0 channels are picked only when no positive-weight candidate
// remains in their tier, so an operator can park a backup at weight 0.
func (c *Cache) SelectChannel(group, model string, exclude []int) (*ChannelView, error) {
	tiers := c.chans.Load().routes[group][model]
	if len(tiers) == 0 {
		return nil, ErrNoChannel
	}
	if c.cooling.any() {
		// Channels an upstream asked to wait (Retry-After) are skipped
		// while others can serve; when none can, they are tried anyway,
		// as the wait is the upstream's hint, not a proven outage.
		skip := c.cooling.appendCooling(exclude, time.Now())
		for _, t := range tiers {
			if ch := pickWeighted(t.channels, skip); ch != nil {
				return ch, nil
			}
		}
	}
	for _, t := range tiers {
		if ch := pickWeighted(t.channels, exclude); ch != nil {
			return ch, nil
		}
	}
	return nil, ErrChannelsExhausted
}

// CoolChannel keeps a channel out of selection until until, as an
// upstream's Retry-After asked; a later call replaces the time.
func (c *Cache) CoolChannel(id int, until time.Time) { c.cooling.set(id, until) }

// coolingChannels are the channels waiting out a Retry-After. The hot path
// reads only the count while none is cooling.
type coolingChannels struct {
	n     atomic.Int32
	mu    sync.Mutex
	until map[int]time.Time
}

func (cc *coolingChannels) any() bool { return cc.n.Load() > 0 }

func (cc *coolingChannels) set(id int, until time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.until == nil {
		cc.until = map[int]time.Time{}
	}
	cc.until[id] = until
	cc.n.Store(int32(len(cc.until)))
}

// appendCooling returns exclude plus the channels still cooling at now,
// forgetting those whose wait is over.
func (cc *coolingChannels) appendCooling(exclude []int, now time.Time) []int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	out := append([]int(nil), exclude...)
	for id, until := range cc.until {
		if now.Before(until) {
			out = append(out, id)
		} else {
			delete(cc.until, id)
		}
	}
	cc.n.Store(int32(len(cc.until)))
	return out
}

func excluded(id int, exclude []int) bool {
	for _, e := range exclude {
		if e == id {
			return true
		}
	}
	return false
}

// skipped reports whether selection passes over ch: tried already, or
// switched off.
func skipped(ch *ChannelView, exclude []int) bool {
	return ch.off.Load() || excluded(ch.ID, exclude)
}

func pickWeighted(chs []*ChannelView, exclude []int) *ChannelView {
	var total uint64
	n := 0
	for _, ch := range chs {
		if !skipped(ch, exclude) {
			total += uint64(ch.Weight)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if total == 0 {
		k := rand.IntN(n)
		for _, ch := range chs {
			if !skipped(ch, exclude) {
				if k == 0 {
					return ch
				}
				k--
			}
		}
	}
	r := rand.Uint64N(total)
	for _, ch := range chs {
		if skipped(ch, exclude) || ch.Weight == 0 {
			continue
		}
		if r < uint64(ch.Weight) {
			return ch
		}
		r -= uint64(ch.Weight)
	}
	return nil
}

func (c *Cache) loadChannels() error {
	channels, err := c.store.AllChannels()
	if err != nil {
		return err
	}
	abilities, err := c.store.AllAbilities()
	if err != nil {
		return err
	}
	idx := &channelIndex{byID: make(map[int]*ChannelView, len(channels)), routes: map[string]map[string][]tier{}, byGroup: map[string][]string{}}
	for i := range channels {
		ch := &channels[i]
		key, err := c.store.ChannelKey(ch)
		if err != nil {
			// A channel whose key cannot be decrypted can serve nothing;
			// say so loudly and leave it out rather than send a garbage key.
			slog.Error("channel key unreadable; channel skipped", "channel_id", ch.ID, "err", err)
			continue
		}
		v := channelViewOf(ch, key)
		idx.byID[ch.ID] = v
	}
	type key struct{ group, model string }
	buckets := map[key]map[int64][]*ChannelView{}
	idx.known = map[string]map[string]bool{}
	for _, a := range abilities {
		if idx.known[a.Group] == nil {
			idx.known[a.Group] = map[string]bool{}
		}
		idx.known[a.Group][a.Model] = true
		v := idx.byID[a.ChannelID]
		if !a.Enabled || v == nil || v.Status != 1 {
			continue
		}
		k := key{a.Group, a.Model}
		if buckets[k] == nil {
			buckets[k] = map[int64][]*ChannelView{}
		}
		buckets[k][a.Priority] = append(buckets[k][a.Priority], v)
	}
	models := map[string]bool{}
	for k, byPrio := range buckets {
		tiers := make([]tier, 0, len(byPrio))
		for p, chs := range byPrio {
			sort.Slice(chs, func(i, j int) bool { return chs[i].ID < chs[j].ID })
			tiers = append(tiers, tier{priority: p, channels: chs})
		}
		sort.Slice(tiers, func(i, j int) bool { return tiers[i].priority > tiers[j].priority })
		if idx.routes[k.group] == nil {
			idx.routes[k.group] = map[string][]tier{}
		}
		idx.routes[k.group][k.model] = tiers
		idx.byGroup[k.group] = append(idx.byGroup[k.group], k.model)
		models[k.model] = true
	}
	idx.groupsOf = map[string][]string{}
	for g := range idx.byGroup {
		sort.Strings(idx.byGroup[g])
		for _, m := range idx.byGroup[g] {
			idx.groupsOf[m] = append(idx.groupsOf[m], g)
		}
	}
	for _, gs := range idx.groupsOf {
		sort.Strings(gs)
	}
	for m := range models {
		idx.allModel = append(idx.allModel, m)
	}
	sort.Strings(idx.allModel)
	c.chans.Store(idx)
	return nil
}

// AllModels lists every model some enabled channel serves.
func (c *Cache) AllModels() []string { return c.chans.Load().allModel }

// ModelGroups maps each served model to the sorted groups with an enabled
// channel for it. The map is shared: callers must not modify it.
func (c *Cache) ModelGroups() map[string][]string { return c.chans.Load().groupsOf }
