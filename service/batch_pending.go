package service

// Pending reports the quota charged to a user (user=true) or key but still
// queued here, not yet in SQL. A balance seeded into Redis from SQL
// subtracts it so queued charges are not forgotten.
func (b *BatchWriter) Pending(user bool, id int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if user {
		return b.users[id].Quota
	}
	return b.tokens[id].RemainQuota
}
