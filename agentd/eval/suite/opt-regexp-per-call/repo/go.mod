module example.com/sku

go 1.19
