package router

import (
	"github.com/gin-gonic/gin"

	"sluice/controller"
	"sluice/middleware"
	relaycommon "sluice/relay/common"
)

// mediaRoutes adds the OpenAI media routes (images, audio, moderations,
// rerank) and Realtime to the /v1 group (docs/media.md).
func mediaRoutes(v1 *gin.RouterGroup, h *controller.Handlers) {
	for _, m := range []relaycommon.Mode{
		relaycommon.ModeImageGenerations, relaycommon.ModeImageEdits,
		relaycommon.ModeAudioSpeech, relaycommon.ModeAudioTranscriptions, relaycommon.ModeAudioTranslations,
		relaycommon.ModeModerations, relaycommon.ModeRerank,
	} {
		v1.POST(m.Path(), middleware.DistributeMedia(h.Cache, h.BodyLimit, m), h.RelayMedia(m))
	}
	v1.GET("/realtime", middleware.DistributeRealtime(h.Cache), h.Realtime)
}
