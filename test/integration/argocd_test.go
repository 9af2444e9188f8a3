package integration

import (
	"os"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// argoHealthScript is the Argo CD health check the chart ships.
const argoHealthScript = "../../charts/operetta/files/argocd-health.lua"

// argoHealth runs the chart's Argo CD health check on u as Argo CD runs one:
// the object as the Lua table obj, the table the script returns read as its
// status and message.
func argoHealth(t *testing.T, u *unstructured.Unstructured) (status, message string) {
	t.Helper()
	script, err := os.ReadFile(argoHealthScript)
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, u.Object))
	fn, err := L.LoadString(string(script))
	if err != nil {
		t.Fatalf("%s: %v", argoHealthScript, err)
	}
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		t.Fatalf("%s on %s %s: %v", argoHealthScript, u.GetKind(), u.GetName(), err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("%s returned %s, want a table", argoHealthScript, L.Get(-1).Type())
	}
	return lua.LVAsString(hs.RawGetString("status")), lua.LVAsString(hs.RawGetString("message"))
}

// toLua converts decoded JSON to Lua values, as Argo CD hands objects to
// health checks: objects and arrays become tables (arrays from index 1).
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	}
	return lua.LString("")
}
