module cancelable/bench/go

go 1.19
