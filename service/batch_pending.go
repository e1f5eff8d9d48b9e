package service

import "sluice/model"

// Pending reports the quota charged to a user (user=true) or key but still
// queued here, not yet in SQL. A balance seeded into Redis from SQL
// subtracts it so queued charges are not forgotten.
func (b *BatchWriter) Pending(user bool, id int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A batch that may not have landed counts as queued: a balance seeded
	// while it is unsure is then at worst too low, never too high.
	var unsure model.Deltas
	if b.unsureDeltas != nil {
		unsure = b.unsureDeltas.d
	}
	if user {
		return b.users[id].Quota + unsure.Users[id].Quota
	}
	return b.tokens[id].RemainQuota + unsure.Tokens[id].RemainQuota
}
