// Who is logged in. The session is an HttpOnly cookie the UI cannot read,
// so the user id is kept beside it (for the New-Api-User header) and the
// session is confirmed with /api/user/self on load.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, getUserId, onUnauthorized, setUserId, type User } from './api';

export const ROLE_COMMON = 1;
export const ROLE_ADMIN = 10;
export const ROLE_ROOT = 100;

export type AuthState = 'loading' | 'setup' | 'anonymous' | 'user' | 'offline';

interface AuthValue {
  state: AuthState;
  user: User | null;
  error: Error | null;
  /** Records a successful login. */
  loggedIn: (u: User) => void;
  logout: () => Promise<void>;
  /** Re-reads the user (balance after a top-up, role after a change). */
  refresh: () => Promise<void>;
  /** Re-checks /api/status, e.g. after the setup page created root. */
  recheck: () => void;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>('loading');
  const [user, setUser] = useState<User | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const status = await api<{ setup: boolean }>('GET', '/api/status');
        if (cancelled) return;
        if (!status.setup) {
          setState('setup');
          return;
        }
        if (!getUserId()) {
          setState('anonymous');
          return;
        }
        try {
          const u = await api<User>('GET', '/api/user/self');
          if (cancelled) return;
          setUser(u);
          setState('user');
        } catch {
          if (cancelled) return;
          setUserId(null);
          setState('anonymous');
        }
      } catch (e) {
        if (cancelled) return;
        setError(e as Error);
        setState('offline');
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [tick]);

  useEffect(() => {
    onUnauthorized(() => {
      setUserId(null);
      setUser(null);
      setState((s) => (s === 'user' ? 'anonymous' : s));
    });
    return () => onUnauthorized(null);
  }, []);

  const loggedIn = useCallback((u: User) => {
    setUserId(u.id);
    setUser(u);
    setState('user');
  }, []);

  const logout = useCallback(async () => {
    try {
      await api('GET', '/api/user/logout');
    } catch {
      // Logged out locally whatever the server said.
    }
    setUserId(null);
    setUser(null);
    sessionStorage.clear();
    setState('anonymous');
  }, []);

  const refresh = useCallback(async () => {
    const u = await api<User>('GET', '/api/user/self');
    setUser(u);
  }, []);

  const recheck = useCallback(() => {
    setState('loading');
    setTick((t) => t + 1);
  }, []);

  const value = useMemo(
    () => ({ state, user, error, loggedIn, logout, refresh, recheck }),
    [state, user, error, loggedIn, logout, refresh, recheck],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}

export function isAdmin(u: User | null) {
  return !!u && u.role >= ROLE_ADMIN;
}

export function isRoot(u: User | null) {
  return !!u && u.role >= ROLE_ROOT;
}
