// Package conversion answers the API server's ConversionReview for the
// kinds Frameworks serve in several versions: each object's spec is
// converted by its Framework's declarative mappings (compile.ConvertSpec),
// through the versions between, and what the version converted to cannot
// hold is kept in an annotation, so converting back loses nothing. It
// holds no state: which Framework serves a kind is asked of Lookup.
package conversion
