package web

// Tour is one stage's page of the tour: the lesson in words, the diagram,
// the code of the step and the "try this now" steps.
type Tour struct {
	Stage, Active int
	Name          string
	// Why is the lesson, a paragraph each; Changed the stage's own words on
	// what changed.
	Why     []string
	Changed string
	Package string
	// PrevPackage is the stage before's package ("" for stage 0).
	PrevPackage string
	ArticleURL  string
	Diagram     Diagram
	Tabs        []TourLink
	Prev, Next  *TourLink
	// Available is set when this server runs the stage.
	Available bool

	// HasCode is set when the source is there to show: Files are the
	// step's own files, Diffs those that were in the stage before, changed,
	// Dropped the files the step removed; Carried counts the files carried
	// forward unchanged.
	HasCode bool
	Files   []TourFile
	Diffs   []TourDiff
	Dropped []TourFile
	Carried int

	Steps []TourStep
	// CanAct is set when the visitor may press the buttons; else
	// SignInURL (an admin token is set) or LockedText says why not.
	CanAct     bool
	SignInURL  string
	LockedText string
	// WorkshopOff is set when the server runs without --workshop: the
	// steps that set controls have no button.
	WorkshopOff bool
	CSRFToken   string
	// Done is the message after a step's button was pressed.
	Done string
}

// TourLink is a link to one stage's page of the tour.
type TourLink struct {
	Number  int
	Label   string
	URL     string
	Current bool
}

// TourFile is a file of the step.
type TourFile struct {
	Path, Note, URL string
	// Changed: it was in the stage before and changed (its diff is shown);
	// New: it was not.
	Changed, New bool
}

// TourDiff is the unified diff of one file from the stage before.
type TourDiff struct {
	Path, From, To string
	Added, Removed int
	Lines          []DiffLine
	// Cut counts the lines left out past the page's limit.
	Cut  int
	Open bool
}

// DiffLine is one line of a diff: Kind is "add", "del", "ctx" or "hunk".
type DiffLine struct {
	Kind, Text string
}

// TourStep is a "try this now" step.
type TourStep struct {
	Key, Title, Do, Watch, Curl string
	// Settings say what the button sets ("projector_delay_ms = 3000").
	Settings []string
	// Shown is set when the server can do what the button does.
	Shown  bool
	Action string
	Button string
}
