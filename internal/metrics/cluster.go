// Package metrics exposes tollgate's Prometheus metrics: collectors that
// read the cluster's Raft and gossip state and the rate limiter's state at
// scrape time, so nothing is updated on the request path for them.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/limiter"
)

// ClusterSource is what the cluster collector reads; *cluster.Node
// implements it.
type ClusterSource interface {
	Status() cluster.Status
	LastContact() time.Time
}

// LimiterSource is what the limiter collector reads; *limiter.Limiter
// implements it.
type LimiterSource interface {
	Stats() limiter.Stats
}

// clusterCollector reports Raft and gossip state.
type clusterCollector struct {
	src         ClusterSource
	state       *prometheus.Desc
	term        *prometheus.Desc
	lastIndex   *prometheus.Desc
	commitIndex *prometheus.Desc
	applied     *prometheus.Desc
	lastContact *prometheus.Desc
	members     *prometheus.Desc
	version     *prometheus.Desc
}

// NewClusterCollector returns a collector of Raft and gossip metrics.
func NewClusterCollector(src ClusterSource) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("tollgate_"+name, help, labels, nil)
	}
	return &clusterCollector{
		src:         src,
		state:       d("raft_state", "1 for this node's current Raft state.", "state"),
		term:        d("raft_term", "Current Raft term."),
		lastIndex:   d("raft_last_index", "Last Raft log index on this node."),
		commitIndex: d("raft_commit_index", "Raft commit index known to this node."),
		applied:     d("raft_applied_index", "Highest log index applied to the config store."),
		lastContact: d("raft_last_contact_seconds", "Seconds since this node last heard from the leader (0 on the leader, -1 never)."),
		members:     d("gossip_members", "Cluster members by gossip state.", "state"),
		version:     d("config_version", "Config version this node's data plane serves."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.lastIndex, c.commitIndex, c.applied, c.lastContact, c.members, c.version} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range [...]string{"Follower", "Candidate", "Leader", "Shutdown"} {
		gauge(c.state, boolFloat(st.State == s), s)
	}
	gauge(c.term, float64(st.Term))
	gauge(c.lastIndex, float64(st.LastIndex))
	gauge(c.commitIndex, float64(st.CommitIndex))
	gauge(c.applied, float64(st.AppliedIndex))
	contact := -1.0
	if st.State == "Leader" {
		contact = 0
	} else if lc := c.src.LastContact(); !lc.IsZero() {
		contact = max(time.Since(lc).Seconds(), 0)
	}
	gauge(c.lastContact, contact)
	byState := map[string]float64{"alive": 0, "dead": 0, "left": 0}
	for _, m := range st.Members {
		if m.Gossip != "unknown" {
			byState[m.Gossip]++
		}
		if m.ID == st.NodeID {
			gauge(c.version, float64(m.ConfigVersion))
		}
	}
	for s, n := range byState {
		gauge(c.members, n, s)
	}
}

// limiterCollector reports the rate limiter's state.
type limiterCollector struct {
	src                                 LimiterSource
	keys, fresh, members, overflowed    *prometheus.Desc
	sent, sendErrors, received, invalid *prometheus.Desc
	echoes, peerAge                     *prometheus.Desc
}

// NewLimiterCollector returns a collector of rate-limiter metrics.
func NewLimiterCollector(src LimiterSource) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("tollgate_limiter_"+name, help, nil, nil)
	}
	return &limiterCollector{
		src:        src,
		keys:       d("keys", "Keys the limiter tracks."),
		fresh:      d("fresh_peers", "Peers whose counts arrived within the peer timeout."),
		members:    d("members", "Live peers the limiter shares limits with."),
		overflowed: d("overflowed_total", "Decisions made on the shared overflow counter because the key cap was reached."),
		sent:       d("messages_sent_total", "Gossip messages sent."),
		sendErrors: d("send_errors_total", "Gossip sends that failed."),
		received:   d("messages_received_total", "Gossip messages received."),
		invalid:    d("messages_malformed_total", "Gossip messages rejected as malformed."),
		echoes:     d("echoes_merged_total", "Echoes of this node's counts from before a restart, merged."),
		peerAge: prometheus.NewDesc("tollgate_limiter_peer_sync_age_seconds",
			"Time since each peer's last rate-limit gossip message (the age of its counts here).", []string{"peer"}, nil),
	}
}

func (c *limiterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.keys, c.fresh, c.members, c.overflowed, c.sent, c.sendErrors, c.received, c.invalid, c.echoes, c.peerAge} {
		ch <- d
	}
}

func (c *limiterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(c.keys, float64(st.Keys))
	g(c.fresh, float64(st.FreshPeers))
	g(c.members, float64(st.Members))
	k(c.overflowed, st.Overflowed)
	k(c.sent, st.Sent)
	k(c.sendErrors, st.SendErrors)
	k(c.received, st.Received)
	k(c.invalid, st.Malformed)
	k(c.echoes, st.EchoesMerged)
	for _, p := range st.Peers {
		ch <- prometheus.MustNewConstMetric(c.peerAge, prometheus.GaugeValue, p.Age.Seconds(), p.ID)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
