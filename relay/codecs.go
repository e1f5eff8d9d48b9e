package relay

import relaycommon "sluice/relay/common"

// codecs is the one table from dialect to its conversions.
var codecs = map[relaycommon.Dialect]codec{}
