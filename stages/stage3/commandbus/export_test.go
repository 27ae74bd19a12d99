package commandbus

// What the tests of the bus, which run a whole stage 3, need of its
// insides.

type BusCommand = busCommand

type ProcessedRow = processedRow

var CommandMarshaler = commandMarshaler

const (
	TypePlace       = typePlace
	TypeChangeLines = typeChangeLines
)
