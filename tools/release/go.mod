module github.com/b24go/bitrix24/tools/release

go 1.26.0

require golang.org/x/mod v0.36.0
