package hub

import (
	"encoding/json"
	"net/http"
)

// Control endpoints (/_fake/...) drive the stand-in from tests, compose and `make demo`. They are never
// counted, throttled or failed.

// controlPush accepts one Push object, a JSON array of them, or {"pushes": [...]}.
func (h *Hub) controlPush(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(&raw); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not JSON: " + err.Error()})
		return
	}
	pushes, err := decodePushes(raw)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err := h.Push(pushes...); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"pushed": len(pushes)})
}

// decodePushes reads a Push, a list of them or a Catalog.
func decodePushes(raw []byte) ([]Push, error) {
	var list []Push
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	if _, ok := probe["pushes"]; ok {
		var c Catalog
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return c.Pushes, nil
	}
	var one Push
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	return []Push{one}, nil
}

// DecodeCatalog reads a catalog file's content: {"pushes": [...]} or a bare list of pushes.
func DecodeCatalog(raw []byte) ([]Push, error) { return decodePushes(raw) }

func (h *Hub) controlCalls(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Calls())
}

func (h *Hub) controlResetCalls(w http.ResponseWriter, _ *http.Request) {
	h.ResetCalls()
	writeJSON(w, http.StatusOK, h.Calls())
}

func (h *Hub) controlGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Faults())
}

func (h *Hub) controlSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
		return
	}
	if f.ErrorRatio < 0 || f.ErrorRatio > 1 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: error_ratio must be between 0 and 1"})
		return
	}
	switch f.RetryHeader {
	case "", "both", "retry-after", "x-retry-after":
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `faults: retry_header must be "both", "retry-after" or "x-retry-after"`})
		return
	}
	h.SetFaults(f)
	writeJSON(w, http.StatusOK, h.Faults())
}

func (h *Hub) controlExpire(w http.ResponseWriter, _ *http.Request) {
	h.ExpireTokens()
	writeJSON(w, http.StatusOK, map[string]string{"status": "every issued token is now expired"})
}
