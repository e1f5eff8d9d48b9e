// Package bedrock is the adaptor for Anthropic's Claude models on AWS
// Bedrock (channel type 33). Bedrock's InvokeModel API takes Anthropic's
// Messages body (with a Bedrock anthropic_version, the model in the URL)
// and answers with Anthropic's message JSON, so responses and the events
// inside a stream are the Anthropic adaptor's. What is Bedrock's own: the
// request line, SigV4 signing, the error bodies and the binary AWS event
// stream framing (eventstream.go).
package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"sluice/relay/channel"
	"sluice/relay/channel/anthropic"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
)

// AnthropicVersion is the anthropic_version Bedrock requires in the body
// of every Claude Messages call.
const AnthropicVersion = "bedrock-2023-05-31"

// DefaultRegion is used when neither the key nor the channel's setting
// names one.
const DefaultRegion = "us-east-1"

// signingName is the SigV4 service name of bedrock-runtime.
const signingName = "bedrock"

// Adaptor relays to Claude on Bedrock. It delegates to the Anthropic
// adaptor method by method rather than embedding it, so capabilities added
// to that adaptor (listing models with an x-api-key, say) never reach a
// Bedrock channel, whose key is AWS credentials, by accident.
type Adaptor struct{}

var (
	_ channel.Adaptor     = Adaptor{}
	_ channel.EventSource = Adaptor{}
)

// signer is stateless (a key-derivation cache at most) and safe for
// concurrent use.
var signer = v4.NewSigner()

// Dialect implements channel.Adaptor: only Claude (Anthropic's Messages
// body) is relayed on Bedrock.
func (Adaptor) Dialect(*relaycommon.RelayInfo) relaycommon.Dialect {
	return relaycommon.DialectAnthropic
}

// Credentials are a channel's AWS credentials and region.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Region          string
}

// ParseKey reads a channel key of the form
// ACCESS_KEY_ID|SECRET_ACCESS_KEY[|REGION[|SESSION_TOKEN]] (new-api's
// format, plus an optional session token for temporary credentials). The
// region falls back to settingRegion, then to DefaultRegion.
func ParseKey(key, settingRegion string) (Credentials, error) {
	parts := strings.Split(strings.TrimSpace(key), "|")
	if len(parts) < 2 || len(parts) > 4 {
		return Credentials{}, errors.New("bedrock: the channel key must be ACCESS_KEY_ID|SECRET_ACCESS_KEY|REGION (region and a 4th session-token field optional)")
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	c := Credentials{AccessKeyID: parts[0], SecretAccessKey: parts[1]}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, errors.New("bedrock: the channel key has an empty access key id or secret access key")
	}
	if len(parts) > 2 {
		c.Region = parts[2]
	}
	if len(parts) > 3 {
		c.SessionToken = parts[3]
	}
	if c.Region == "" {
		c.Region = strings.TrimSpace(settingRegion)
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if !validRegion(c.Region) {
		// The region becomes part of the host name: refuse anything that is
		// not a plain region code.
		return Credentials{}, errors.New("bedrock: the region must look like us-east-1")
	}
	return c, nil
}

func validRegion(r string) bool {
	if len(r) > 32 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// URL is the invoke URL of info's model: Bedrock's regional runtime host
// unless the channel's base URL (a VPC endpoint, a test server) replaces
// it.
func URL(info *relaycommon.RelayInfo, region string) string {
	base := strings.TrimRight(info.Channel.BaseURL, "/")
	if base == "" {
		base = "https://bedrock-runtime." + region + ".amazonaws.com"
	}
	op := "/invoke"
	if info.IsStream {
		op = "/invoke-with-response-stream"
	}
	return base + "/model/" + escapeModelID(info.UpstreamModel) + op
}

// escapeModelID escapes a model id or ARN as one path segment the way the
// AWS SDKs do: everything but RFC 3986 unreserved characters, so the ':'
// of "anthropic.claude-3-5-sonnet-20240620-v1:0" and the '/' of an
// inference-profile ARN travel as %3A and %2F.
func escapeModelID(id string) string {
	return strings.ReplaceAll(url.PathEscape(id), ":", "%3A")
}

// BuildRequest implements channel.Adaptor.
func (Adaptor) BuildRequest(ctx context.Context, info *relaycommon.RelayInfo, body []byte) (*http.Request, error) {
	creds, err := ParseKey(info.Channel.Key, info.Channel.Settings.Region)
	if err != nil {
		return nil, err
	}
	if body, err = PrepareBody(info, body); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, URL(info, creds.Region), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if info.IsStream {
		req.Header.Set("Accept", "application/vnd.amazon.eventstream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	for k, v := range info.Channel.Headers {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	err = signer.SignHTTP(ctx, aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
		SessionToken: creds.SessionToken}, req, hex.EncodeToString(sum[:]), signingName, creds.Region, time.Now())
	if err != nil {
		return nil, err
	}
	return req, nil
}

// PrepareBody turns an Anthropic Messages body into Bedrock's: the model
// is in the URL and streaming is the URL's choice, so both fields go;
// anthropic_version is Bedrock's; beta features the client negotiated by
// header travel in the body's anthropic_beta list, Bedrock's place for
// them.
func PrepareBody(info *relaycommon.RelayInfo, body []byte) ([]byte, error) {
	var err error
	for _, k := range [...]string{"model", "stream"} {
		if gjson.GetBytes(body, k).Exists() {
			if body, err = sjson.DeleteBytes(body, k); err != nil {
				return nil, err
			}
		}
	}
	if body, err = sjson.SetBytes(body, "anthropic_version", AnthropicVersion); err != nil {
		return nil, err
	}
	if beta := info.ClientHeaders["anthropic-beta"]; beta != "" && !gjson.GetBytes(body, "anthropic_beta").Exists() {
		var list []string
		for _, b := range strings.Split(beta, ",") {
			if b = strings.TrimSpace(b); b != "" {
				list = append(list, b)
			}
		}
		if len(list) > 0 {
			if body, err = sjson.SetBytes(body, "anthropic_beta", list); err != nil {
				return nil, err
			}
		}
	}
	return body, nil
}

// ParseResponse implements channel.Adaptor: the body is Anthropic's
// message JSON and passes through.
func (Adaptor) ParseResponse(info *relaycommon.RelayInfo, body []byte) ([]byte, relaycommon.Usage, error) {
	return anthropic.Adaptor{}.ParseResponse(info, body)
}

// NewStreamDecoder implements channel.Adaptor: the events inside the event
// stream are Anthropic's, and the Anthropic decoder's framed output (named
// events) is what an Anthropic client expects. The final message_stop also
// carries Bedrock's amazon-bedrock-invocationMetrics, which clients ignore.
func (Adaptor) NewStreamDecoder(info *relaycommon.RelayInfo) channel.StreamDecoder {
	return anthropic.Adaptor{}.NewStreamDecoder(info)
}

// ParseError implements channel.Adaptor.
func (Adaptor) ParseError(status int, body []byte) *relayerr.Error {
	return ErrorFrom(status, body)
}

// ErrorFrom normalises a Bedrock error. Bedrock names the exception in the
// x-amzn-ErrorType header and puts only {"message":"..."} in the body, so
// the status carries the classification: 403 AccessDenied /
// UnrecognizedClient / ExpiredToken (dead credentials), 429 Throttling and
// ModelNotReady (busy), 400 Validation (the client's request), 404
// ResourceNotFound (model not on this account), 5xx (Bedrock's fault).
func ErrorFrom(status int, body []byte) *relayerr.Error {
	msg := gjson.GetBytes(body, "message").String()
	if msg == "" {
		msg = gjson.GetBytes(body, "Message").String()
	}
	// Some front ends echo the exception name as __type
	// ("com.amazon.coral.service#UnrecognizedClientException").
	code := gjson.GetBytes(body, "__type").String()
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if status == http.StatusFailedDependency {
		// 424 ModelErrorException: the model itself failed on the request;
		// Bedrock's advice is to retry, and the client cannot fix it.
		return relayerr.New(relayerr.KindUpstream, "the upstream model failed to process the request").Retry()
	}
	return relayerr.Upstream(status, Redact(relayerr.Sanitize(msg)), code)
}

var (
	accountPattern   = regexp.MustCompile(`\b\d{12}\b`)
	accessKeyPattern = regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`)
)

// Redact hides what identifies the channel's AWS account in a message a
// client may see: account ids (inside ARNs of models and inference
// profiles) and access key ids. The channel key as a whole is one
// "|"-joined word, so the relay's verbatim redaction would not catch its
// access key id alone.
func Redact(msg string) string {
	msg = accountPattern.ReplaceAllString(msg, "[redacted-account]")
	return accessKeyPattern.ReplaceAllString(msg, "[redacted-key]")
}
