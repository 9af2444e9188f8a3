package manager

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// noteLimit is the longest note the API server accepts in an event.
const noteLimit = 1024

// boundedRecorder shortens event notes to what the API server accepts: a
// plan's message (a rejected object, say) can be longer, and the event
// would be refused and lost. The status keeps the whole message.
type boundedRecorder struct{ recorder.EventRecorder }

func (b boundedRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	b.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", bound(fmt.Sprintf(note, args...)))
}

func (b boundedRecorder) AnnotatedEventf(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args ...any) {
	b.EventRecorder.AnnotatedEventf(regarding, related, annotations, eventtype, reason, action, "%s", bound(fmt.Sprintf(note, args...)))
}

func bound(s string) string {
	if len(s) <= noteLimit {
		return s
	}
	const more = "… (the whole message is in the status)"
	cut := noteLimit - len(more)
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + more
}
