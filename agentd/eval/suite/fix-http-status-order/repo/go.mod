module example.com/itemsapi

go 1.19
