package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"sluice/common"
	"sluice/constant"
	"sluice/model"
	"sluice/setting/operation_setting"
	"sluice/setting/ratio_setting"
)

// Kinds of refusal in user administration. Every error the rules return
// wraps exactly one of them (test with errors.Is); its message is safe to
// show the caller. The HTTP edge maps them to 400, 403, 404 and 409.
var (
	ErrUserInput     = errors.New("invalid input")
	ErrUserForbidden = errors.New("not permitted")
	ErrUserNotFound  = errors.New("user not found")
	ErrUsernameTaken = errors.New("username is already taken")
)

// ruleError is a refusal with a caller-facing message.
type ruleError struct {
	kind error
	msg  string
}

func (e *ruleError) Error() string { return e.msg }
func (e *ruleError) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &ruleError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Limits on user fields; they match the column sizes in model.User.
const (
	MaxUsernameLength    = 64
	MaxDisplayNameLength = 64
	MaxGroupLength       = 64
	// MaxPasswordBytes is bcrypt's input limit: longer passwords would be
	// refused by the hash (or, in older libraries, silently truncated).
	MaxPasswordBytes = 72
)

// deletedMarker joins a soft-deleted user's old name and id. Usernames may
// not contain '#', so a renamed row can never collide with a live name.
const deletedMarker = "#deleted-"

// CanManage says whether actor may change target: nobody acts on a user of
// equal or higher role, which makes root untouchable and keeps admins from
// acting on each other (or on themselves through the admin routes).
func CanManage(actor, target *model.UserInfo) error {
	if actor.Role <= target.Role {
		return refuse(ErrUserForbidden, "you may not manage a user of equal or higher role")
	}
	return nil
}

// CanView says whether actor may read target's record: users of strictly
// lower role, and root may read everyone.
func CanView(actor, target *model.UserInfo) error {
	if actor.Role == constant.RoleRoot {
		return nil
	}
	if actor.Role <= target.Role {
		return refuse(ErrUserForbidden, "you may not view a user of equal or higher role")
	}
	return nil
}

// CanAssignRole says whether actor may give someone role: only common and
// admin can be assigned, and only below the actor's own role (so admins
// create common users and only root creates admins).
func CanAssignRole(actor *model.UserInfo, role int) error {
	if role != constant.RoleCommon && role != constant.RoleAdmin {
		return refuse(ErrUserInput, "role must be %d (common) or %d (admin)", constant.RoleCommon, constant.RoleAdmin)
	}
	if role >= actor.Role {
		return refuse(ErrUserForbidden, "you may only assign a role lower than your own")
	}
	return nil
}

// CanDeleteSelf says whether u may delete its own account: root may not,
// or the installation would be left without an administrator.
func CanDeleteSelf(u *model.UserInfo) error {
	if u.Role == constant.RoleRoot {
		return refuse(ErrUserForbidden, "the root user cannot delete itself")
	}
	return nil
}

// ValidateUsername checks a (trimmed) login name: 1..64 characters, no
// whitespace or control characters, and no '#', which is reserved for the
// names of deleted users.
func ValidateUsername(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return refuse(ErrUserInput, "username is required")
	}
	if n > MaxUsernameLength {
		return refuse(ErrUserInput, "username must be at most %d characters", MaxUsernameLength)
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool {
		return r == '#' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return refuse(ErrUserInput, "username may not contain spaces, control characters or '#'")
	}
	return nil
}

// ValidatePassword checks a new password's length.
func ValidatePassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordLength {
		return refuse(ErrUserInput, "password must be at least %d characters", MinPasswordLength)
	}
	if len(p) > MaxPasswordBytes {
		return refuse(ErrUserInput, "password must be at most %d bytes", MaxPasswordBytes)
	}
	return nil
}

// ValidateDisplayName checks a display name's length.
func ValidateDisplayName(s string) error {
	if utf8.RuneCountInString(s) > MaxDisplayNameLength {
		return refuse(ErrUserInput, "display_name must be at most %d characters", MaxDisplayNameLength)
	}
	return nil
}

// DeletedUsername is the name a soft-deleted user is renamed to, so that
// its old name can be registered again: the unique index on username also
// covers soft-deleted rows (new-api leaves the name taken forever). The
// old name is shortened as needed to fit the column with the suffix.
func DeletedUsername(name string, id int) string {
	suffix := deletedMarker + strconv.Itoa(id)
	keep := MaxUsernameLength - len(suffix) // the suffix is ASCII
	if utf8.RuneCountInString(name) > keep {
		name = string([]rune(name)[:max(keep, 0)])
	}
	return name + suffix
}

// Manage actions (POST /api/user/manage).
const (
	ActionDisable = "disable"
	ActionEnable  = "enable"
	ActionDelete  = "delete"
	ActionPromote = "promote"
	ActionDemote  = "demote"
)

// ManageChange is what an action does to its target.
type ManageChange struct {
	Role   int
	Status int
	Delete bool
}

// PlanAction applies the role rules to one manage action and returns the
// target's resulting role and status (or Delete).
func PlanAction(actor, target *model.UserInfo, action string) (ManageChange, error) {
	ch := ManageChange{Role: target.Role, Status: target.Status}
	switch action {
	case ActionDisable, ActionEnable, ActionDelete, ActionPromote, ActionDemote:
	default:
		return ch, refuse(ErrUserInput, "unknown action %q; use disable, enable, delete, promote or demote", action)
	}
	if err := CanManage(actor, target); err != nil {
		return ch, err
	}
	switch action {
	case ActionDisable:
		ch.Status = constant.UserStatusDisabled
	case ActionEnable:
		ch.Status = constant.UserStatusEnabled
	case ActionDelete:
		ch.Delete = true
	case ActionPromote:
		if actor.Role != constant.RoleRoot {
			return ch, refuse(ErrUserForbidden, "only root may promote a user to admin")
		}
		if target.Role >= constant.RoleAdmin {
			return ch, refuse(ErrUserInput, "the user is already an admin")
		}
		ch.Role = constant.RoleAdmin
	case ActionDemote:
		if actor.Role != constant.RoleRoot {
			return ch, refuse(ErrUserForbidden, "only root may demote an admin")
		}
		if target.Role <= constant.RoleCommon {
			return ch, refuse(ErrUserInput, "the user is already a common user")
		}
		ch.Role = constant.RoleCommon
	}
	return ch, nil
}

// GroupUsage is one group a user may send requests as.
type GroupUsage struct {
	Ratio float64 `json:"ratio"`
	Desc  string  `json:"desc"`
}

// UsableGroups returns the groups user may use, each with its ratio: their
// own group, and for admins every known group (see KnownGroups). The token
// API checks a key's group against the same rule (CanUseGroup).
func UsableGroups(user *model.UserInfo, known []string) map[string]GroupUsage {
	snap := ratio_setting.Current()
	out := map[string]GroupUsage{}
	add := func(g string) { out[g] = GroupUsage{Ratio: snap.GroupRatioOf(g), Desc: g} }
	own := user.Group
	if own == "" {
		own = constant.DefaultGroup
	}
	add(own)
	if user.Role >= constant.RoleAdmin {
		for _, g := range known {
			add(g)
		}
	}
	return out
}

// CanUseGroup reports whether user may use group (see UsableGroups).
func CanUseGroup(user *model.UserInfo, group string, known []string) bool {
	_, ok := UsableGroups(user, known)[group]
	return ok
}

// KnownGroups lists every group that exists, sorted: those priced in
// GroupRatio and those named by a live user or a channel.
func KnownGroups(store *model.Store) ([]string, error) {
	inUse, err := store.GroupsInUse()
	if err != nil {
		return nil, err
	}
	for g := range ratio_setting.Current().GroupRatio {
		if !slices.Contains(inUse, g) {
			inUse = append(inUse, g)
		}
	}
	slices.Sort(inUse)
	return inUse, nil
}

// UserAdmin carries out user administration under the rules above. Every
// change reaches the cache at once (a disabled user's keys are refused on
// the next request) and every change an operator makes is logged (type 3).
type UserAdmin struct {
	Store  *model.Store
	Cache  *model.Cache
	Writer *BatchWriter
}

// NewUser is POST /api/user/'s input. Role 0 means common; a nil Quota
// means the QuotaForNewUser setting; an empty Group means default.
type NewUser struct {
	Username    string
	Password    string
	DisplayName string
	Role        int
	Quota       *int64
	Group       string
}

// UserEdit is PUT /api/user/'s input: nil fields (and Role 0, and an empty
// Password) are left as they are.
type UserEdit struct {
	ID          int
	Username    *string
	DisplayName *string
	Password    *string
	Quota       *int64
	Group       *string
	Role        int
}

// target loads user id, refusing unknown (or deleted) ids with ErrUserNotFound.
func (a *UserAdmin) target(id int) (*model.User, error) {
	u, err := a.Store.UserByID(id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, refuse(ErrUserNotFound, "user %d not found", id)
	}
	return u, err
}

// Get returns one user's record if actor may view it.
func (a *UserAdmin) Get(actor *model.UserInfo, id int) (*model.User, error) {
	u, err := a.target(id)
	if err != nil {
		return nil, err
	}
	if err := CanView(actor, u.Info()); err != nil {
		return nil, err
	}
	return u, nil
}

// Create adds a user on actor's behalf.
func (a *UserAdmin) Create(actor *model.UserInfo, in NewUser) (*model.User, error) {
	u := &model.User{Username: strings.TrimSpace(in.Username), DisplayName: strings.TrimSpace(in.DisplayName),
		Role: in.Role, Status: constant.UserStatusEnabled, Group: strings.TrimSpace(in.Group),
		Quota: operation_setting.Get().QuotaForNewUser}
	if u.Role == 0 {
		u.Role = constant.RoleCommon
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	if u.Group == "" {
		u.Group = constant.DefaultGroup
	}
	if in.Quota != nil {
		u.Quota = *in.Quota
	}
	for _, check := range []func() error{
		func() error { return ValidateUsername(u.Username) },
		func() error { return ValidatePassword(in.Password) },
		func() error { return ValidateDisplayName(u.DisplayName) },
		func() error { return nonNegativeQuota(u.Quota) },
		func() error { return CanAssignRole(actor, u.Role) },
		func() error { return a.checkGroup(u.Group, "") },
		func() error { return a.checkUsernameFree(u.Username, 0) },
	} {
		if err := check(); err != nil {
			return nil, err
		}
	}
	var err error
	if u.Password, err = common.HashPassword(in.Password); err != nil {
		return nil, err
	}
	if err := a.Store.CreateUser(u); err != nil {
		// Lost a race for the name against another insert.
		if taken := a.checkUsernameFree(u.Username, 0); taken != nil {
			return nil, taken
		}
		return nil, err
	}
	a.Cache.PutUser(u)
	a.log(u, fmt.Sprintf("admin %s created user %s (role %d, quota %d, group %s)", actor.Username, u.Username, u.Role, u.Quota, u.Group))
	return u, nil
}

func nonNegativeQuota(q int64) error {
	if q < 0 {
		return refuse(ErrUserInput, "quota must not be negative")
	}
	return nil
}

func (a *UserAdmin) checkUsernameFree(name string, exceptID int) error {
	taken, err := a.Store.UsernameTaken(name, exceptID)
	if err != nil {
		return err
	}
	if taken {
		return refuse(ErrUsernameTaken, "username %q is already taken", name)
	}
	return nil
}

// checkGroup accepts the default group, the user's current group, and any
// known group; an unknown name is most likely a typo that would leave the
// user with no channel to route to.
func (a *UserAdmin) checkGroup(group, current string) error {
	if group == constant.DefaultGroup || group == current {
		return nil
	}
	if group == "" || utf8.RuneCountInString(group) > MaxGroupLength || strings.ContainsAny(group, ", \t\n") {
		return refuse(ErrUserInput, "group must be 1..%d characters without commas or spaces", MaxGroupLength)
	}
	known, err := KnownGroups(a.Store)
	if err != nil {
		return err
	}
	if !slices.Contains(known, group) {
		return refuse(ErrUserInput, "unknown group %q: price it in GroupRatio or give it to a channel first", group)
	}
	return nil
}

// Update edits a user of lower role than actor. A quota change is applied
// as a delta against the live balance (see SetUserQuota), never written
// as an absolute value.
func (a *UserAdmin) Update(ctx context.Context, actor *model.UserInfo, in UserEdit) (*model.User, error) {
	u, err := a.target(in.ID)
	if err != nil {
		return nil, err
	}
	if err := CanManage(actor, u.Info()); err != nil {
		return nil, err
	}
	if in.Quota != nil {
		if err := nonNegativeQuota(*in.Quota); err != nil {
			return nil, err
		}
	}
	fields, err := a.editFields(actor, u, in)
	if err != nil {
		return nil, err
	}
	if len(fields) > 0 {
		if err := a.Store.UpdateUserFields(u.ID, fields); err != nil {
			return nil, err
		}
	}
	if _, ok := fields["password"]; ok {
		// A password reset by an admin ends the user's sessions.
		if _, err := a.Store.BumpSessionEpoch(u.ID); err != nil {
			return nil, err
		}
	}
	if g, ok := fields["group"]; ok {
		a.log(u, fmt.Sprintf("admin %s changed group of %s from %s to %s", actor.Username, u.Username, u.Group, g))
	}
	if r, ok := fields["role"]; ok {
		a.log(u, fmt.Sprintf("admin %s changed role of %s from %d to %d", actor.Username, u.Username, u.Role, r))
	}
	if in.Quota != nil {
		from, to, err := SetUserQuota(ctx, a.Store, a.Cache, a.Writer, u.ID, *in.Quota)
		if err != nil {
			return nil, err
		}
		if from != to {
			a.log(u, fmt.Sprintf("admin %s changed quota of %s from %d to %d", actor.Username, u.Username, from, to))
		}
	}
	return a.refresh(u.ID)
}

// editFields validates an edit and returns the columns it changes.
func (a *UserAdmin) editFields(actor *model.UserInfo, u *model.User, in UserEdit) (map[string]any, error) {
	fields := map[string]any{}
	if in.Username != nil && strings.TrimSpace(*in.Username) != u.Username {
		name := strings.TrimSpace(*in.Username)
		if err := ValidateUsername(name); err != nil {
			return nil, err
		}
		if err := a.checkUsernameFree(name, u.ID); err != nil {
			return nil, err
		}
		fields["username"] = name
	}
	if in.DisplayName != nil {
		if err := ValidateDisplayName(*in.DisplayName); err != nil {
			return nil, err
		}
		fields["display_name"] = strings.TrimSpace(*in.DisplayName)
	}
	if in.Password != nil && *in.Password != "" {
		if err := ValidatePassword(*in.Password); err != nil {
			return nil, err
		}
		hash, err := common.HashPassword(*in.Password)
		if err != nil {
			return nil, err
		}
		fields["password"] = hash
	}
	if in.Group != nil && strings.TrimSpace(*in.Group) != u.Group {
		g := strings.TrimSpace(*in.Group)
		if err := a.checkGroup(g, u.Group); err != nil {
			return nil, err
		}
		fields["group"] = g
	}
	if in.Role != 0 && in.Role != u.Role {
		if err := CanAssignRole(actor, in.Role); err != nil {
			return nil, err
		}
		fields["role"] = in.Role
	}
	return fields, nil
}

// SetUserQuota sets a user's balance to target as an operator sees it,
// returning the balance before and after. The change is a delta against
// the live balance (Cache.UserQuota: memory or Redis), applied to SQL and
// the live balance alike (AddUserQuota), so charges reserved or queued in
// the batch writer are neither lost nor counted twice; writing
// quota = target to SQL would be both.
func SetUserQuota(ctx context.Context, store *model.Store, cache *model.Cache, w *BatchWriter, id int, target int64) (from, to int64, err error) {
	from, ok := cache.UserQuota(ctx, id)
	if !ok {
		// No live balance (e.g. a user a refresh dropped): SQL is the
		// truth once the queued charges are in.
		if err := w.Flush(); err != nil {
			return 0, 0, err
		}
		u, err := store.UserByID(id)
		if err != nil {
			return 0, 0, err
		}
		if err := store.AddUserQuota(id, target-u.Quota); err != nil {
			return 0, 0, err
		}
		return u.Quota, target, nil
	}
	if target == from {
		return from, from, nil
	}
	applied, err := AddUserQuota(store, cache, id, target-from)
	if err != nil {
		return 0, 0, err
	}
	return from, from + applied, nil
}

// Manage carries out one action on a user for actor and returns the user
// as it is afterwards (as it was, for delete).
func (a *UserAdmin) Manage(actor *model.UserInfo, id int, action string) (*model.User, error) {
	u, err := a.target(id)
	if err != nil {
		return nil, err
	}
	ch, err := PlanAction(actor, u.Info(), action)
	if err != nil {
		return nil, err
	}
	if ch.Delete {
		return u, a.remove(u, fmt.Sprintf("admin %s deleted user %s", actor.Username, u.Username))
	}
	if ch.Role != u.Role || ch.Status != u.Status {
		if err := a.Store.UpdateUserFields(u.ID, map[string]any{"role": ch.Role, "status": ch.Status}); err != nil {
			return nil, err
		}
	}
	verb := map[string]string{ActionDisable: "disabled", ActionEnable: "enabled", ActionPromote: "promoted",
		ActionDemote: "demoted"}[action]
	a.log(u, fmt.Sprintf("admin %s %s user %s (role %d, status %d)", actor.Username, verb, u.Username, ch.Role, ch.Status))
	return a.refresh(u.ID)
}

// Delete soft-deletes a user of lower role than actor.
func (a *UserAdmin) Delete(actor *model.UserInfo, id int) error {
	u, err := a.target(id)
	if err != nil {
		return err
	}
	if err := CanManage(actor, u.Info()); err != nil {
		return err
	}
	return a.remove(u, fmt.Sprintf("admin %s deleted user %s", actor.Username, u.Username))
}

// DeleteSelf deletes the caller's own account (never root's).
func (a *UserAdmin) DeleteSelf(me *model.UserInfo) error {
	if err := CanDeleteSelf(me); err != nil {
		return err
	}
	u, err := a.target(me.ID)
	if err != nil {
		return err
	}
	return a.remove(u, fmt.Sprintf("user %s deleted their own account", u.Username))
}

// remove soft-deletes u and refuses its keys and sessions at once.
func (a *UserAdmin) remove(u *model.User, content string) error {
	tokenIDs, err := a.Store.SoftDeleteUser(u.ID, DeletedUsername(u.Username, u.ID))
	if errors.Is(err, model.ErrNotFound) {
		return refuse(ErrUserNotFound, "user %d not found", u.ID)
	}
	if err != nil {
		return err
	}
	a.Cache.RemoveUser(u.ID)
	for _, id := range tokenIDs {
		a.Cache.RemoveToken(id)
	}
	a.log(u, content)
	return nil
}

// refresh reloads a changed user and publishes it to the cache, so a new
// role or status applies to the very next request.
func (a *UserAdmin) refresh(id int) (*model.User, error) {
	u, err := a.Store.UserByID(id)
	if err != nil {
		return nil, err
	}
	a.Cache.PutUser(u)
	return u, nil
}

func (a *UserAdmin) log(target *model.User, content string) {
	a.Writer.AddLog(model.Log{Type: constant.LogTypeManage, UserID: target.ID, Username: target.Username, Content: content})
}
