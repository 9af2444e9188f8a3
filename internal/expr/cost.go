package expr

import (
	"github.com/google/cel-go/checker"
)

// maxUnboundedSize is the size assumed for a list, map or string whose
// schema gives no bound: what fits in a request the API server accepts.
const maxUnboundedSize = 3 * 1024 * 1024

// sizeEstimator gives unbounded values the largest size a request can carry,
// as the API server does for CRD validation rules.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: maxUnboundedSize}
}

func (sizeEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}
