module example.com/fuzzy

go 1.19
