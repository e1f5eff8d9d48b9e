package model

// Test helpers of package model that the external tests (package
// model_test, which may import internal/testdb) use too.
var (
	ProcessCPU = processCPU
	ReportCPU  = reportCPU
)
