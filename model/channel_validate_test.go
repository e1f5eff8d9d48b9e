package model

import (
	"strings"
	"testing"

	"sluice/setting/operation_setting"
)

func TestValidateChannelHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers string
		wantErr string // empty: accepted; else a part of the message (which names the header)
	}{
		{"none", ``, ""},
		{"custom", `{"X-Title":"my app","HTTP-Referer":"https://example.com"}`, ""},
		// Some providers need their own auth scheme, so overriding it is allowed.
		{"authorization override", `{"Authorization":"Token abc","api-key":"k"}`, ""},
		{"tab in value", `{"X-A":"a\tb"}`, ""},
		{"CRLF in value", `{"X-A":"a\r\nX-Injected: 1"}`, `the value of "X-A" contains a control character`},
		{"LF in value", `{"X-A":"a\nb"}`, `"X-A"`},
		{"NUL in value", `{"X-A":"a\u0000b"}`, `"X-A"`},
		{"CR in name", `{"X-A\r\nX-B":"v"}`, `"X-A\r\nX-B" is not a valid header name`},
		{"space in name", `{"X A":"v"}`, `"X A" is not a valid header name`},
		{"colon in name", `{"X-A:":"v"}`, `not a valid header name`},
		{"empty name", `{"":"v"}`, `"" is not a valid header name`},
		{"non-ASCII name", `{"X-Ä":"v"}`, `not a valid header name`},
		{"Host", `{"Host":"internal"}`, `"Host" may not be set`},
		{"content-length lower case", `{"content-length":"0"}`, `"content-length" may not be set`},
		{"Transfer-Encoding", `{"Transfer-Encoding":"chunked"}`, `"Transfer-Encoding" may not be set`},
		{"Connection", `{"Connection":"close"}`, `"Connection"`},
		{"Keep-Alive", `{"Keep-Alive":"timeout=5"}`, `"Keep-Alive"`},
		{"Upgrade", `{"Upgrade":"websocket"}`, `"Upgrade"`},
		{"TE", `{"TE":"trailers"}`, `"TE"`},
		{"Trailer", `{"Trailer":"X-A"}`, `"Trailer"`},
		{"Proxy-Authorization", `{"Proxy-Authorization":"Basic x"}`, `"Proxy-Authorization"`},
		{"Proxy-Connection", `{"proxy-connection":"keep-alive"}`, `"proxy-connection"`},
		{"same header twice", `{"X-A":"1","x-a":"2"}`, `name the same header`},
		{"not strings", `{"X-A":1}`, `headers must be a JSON object of strings`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Channel{Name: "c", Models: "m", Headers: tt.headers}
			err := ValidateChannel(c)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateChannel = %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateChannel = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestValidateChannelBaseURL is not parallel: it switches the
// AllowPrivateUpstreams option.
func TestValidateChannelBaseURL(t *testing.T) {
	t.Cleanup(func() {
		_ = operation_setting.Update(func(o *operation_setting.Operation) { o.AllowPrivateUpstreams = true })
	})
	tests := []struct {
		url          string
		allowPrivate bool
		wantErr      string
	}{
		{"", false, ""},
		{"https://api.openai.com", false, ""},
		{"http://localhost:11434", false, ""}, // a name is checked when dialled
		{"http://127.0.0.1:11434", true, ""},
		{"http://10.0.0.5:8000/v1", true, ""},
		{"http://127.0.0.1:11434", false, "loopback address is refused"},
		{"http://[::1]:8000", false, "loopback"},
		{"http://192.168.0.10", false, "private-network"},
		{"http://169.254.169.254/latest", true, "link-local, metadata or reserved"},
		{"http://[fd00:ec2::254]", true, "metadata"},
		{"http://100.100.100.200", true, "metadata"},
		{"ftp://example.com", true, "must start with http:// or https://"},
		{"http://", true, "not a valid URL"},
	}
	for _, tt := range tests {
		if err := operation_setting.Update(func(o *operation_setting.Operation) { o.AllowPrivateUpstreams = tt.allowPrivate }); err != nil {
			t.Fatal(err)
		}
		err := ValidateChannel(&Channel{Name: "c", Models: "m", BaseURL: tt.url})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s (allowPrivate=%v): %v, want success", tt.url, tt.allowPrivate, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s (allowPrivate=%v): %v, want an error containing %q", tt.url, tt.allowPrivate, err, tt.wantErr)
		}
	}
}
