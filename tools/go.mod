module github.com/scoutbridge/scoutbridge/tools

go 1.26
