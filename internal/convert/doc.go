// Package convert converts the spec of a generated kind between two of its
// versions, declaratively: a CEL mapping per field of the version converted
// to, over self (the spec converted from), and what the mappings do not
// mention carried across where both versions have the field with the same
// type. It checks mappings against both schemas and that a conversion and
// its way back return what they were given (RoundTrip), on samples it
// generates from the schema. It imports no client.
package convert
